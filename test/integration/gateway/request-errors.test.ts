/**
 * Whatever a client sends, the answer is a 4xx in one shape `{"error": {code, message, details}}`
 * (CONTRACT §4): 400 naming the bad field, 404 for unknown ids and routes, 413 for oversized
 * bodies, 401 for mutating calls without the token; never a 5xx, and the tree keeps serving.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { inProcessServices } from '../../support/in-process-services.ts';
import { tempConfig } from '../../support/test-config.ts';
import { http, useCleanup, type HttpAnswer } from './gateway-helpers.ts';
import { slowUpload } from '../../support/slow-upload.ts';

function expectError(answer: HttpAnswer, status: number, code: string, what: string): void {
  expect(answer.status, `${what}: ${answer.text}`).toBe(status);
  expect(answer.headers.get('content-type'), what).toMatch(/^application\/json/);
  expect(answer.body, what).toEqual({ error: { code, message: expect.any(String), details: expect.any(Object) } });
  expect(answer.body.error.message.length, what).toBeGreaterThan(0);
}

function expectBadField(answer: HttpAnswer, field: string, where: 'body' | 'query' | 'params', what: string): void {
  expectError(answer, 400, 'PAS_ERR_BAD_REQUEST', what);
  expect(answer.body.error.details, what).toMatchObject({ field, where });
  expect(answer.body.error.message, what).toContain(field);
}

/** Sends bytes as they are (a request fetch would refuse to send) and returns the status line's code. */
function rawRequest(port: number, request: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }));
    socket.write(request);
  });
}

describe('bad, unknown, oversized and unauthorized requests', () => {
  const cleanup = useCleanup();

  it('a bad body gets 400 naming the field, on the gateway and on an agent’s own port', async () => {
    const tree = await cleanup.tree({ services: inProcessServices() });
    const mgr = `http://127.0.0.1:${tree.gateway!.agentPorts.get('Mgr-Code-01')}`;
    const prog = `http://127.0.0.1:${tree.gateway!.agentPorts.get('Prog-002')}`;
    const cases: Array<[url: string, method: string, body: unknown, field: string]> = [
      [`${tree.url}/api/jobs`, 'POST', { task: 5 }, 'task'],
      [`${tree.url}/api/jobs`, 'POST', {}, 'task'],
      [`${tree.url}/api/jobs`, 'POST', { task: '   ' }, 'task'],
      [`${tree.url}/api/jobs`, 'POST', { task: 'x', lane: 'Marketing' }, 'lane'],
      [`${tree.url}/api/jobs`, 'POST', { task: 'x', files: ['ok.ts', 7] }, 'files[1]'],
      [`${tree.url}/api/jobs`, 'POST', { task: 'x', priority: 'high' }, 'priority'],
      [`${mgr}/submit`, 'POST', { task: 'x', lane: 'code' }, 'lane'],
      [`${mgr}/submit`, 'POST', { files: ['a.ts'] }, 'task'],
      [`${tree.url}/agents/Mgr-Code-01/submit`, 'POST', { task: ['x'] }, 'task'],
      [`${prog}/execute`, 'POST', { instruction: 'x', files: [] }, 'files'],
      [`${prog}/execute`, 'POST', { instruction: 'x', files: ['a.ts'], timeout_s: 'soon' }, 'timeout_s'],
      [`${prog}/execute`, 'POST', { instruction: 'x', files: ['a.ts'], task_id: 'bad id!' }, 'task_id'],
      [`${prog}/aider/edit`, 'POST', { instruction: 'x', files: ['a.ts'] }, 'message'],
      [`${prog}/agent_chat/receive`, 'POST', { message: 'hi' }, 'from'],
      [`${mgr}/agent_chat/receive`, 'POST', { from: 'x', message: 'hi', kind: 'gossip' }, 'kind'],
      [`${tree.url}/api/settings/llm/Prog-001`, 'PUT', { primary: 42 }, 'primary'],
      [`${tree.url}/api/settings/llm/Prog-001`, 'PUT', { primary: 'ollama/qwen2.5-coder:7b-instruct', extra: true }, 'extra'],
    ];
    for (const [url, method, body, field] of cases) {
      expectBadField(await http(url, { method, body }), field, 'body', `${method} ${url} ${JSON.stringify(body)}`);
    }
    // Nothing was accepted.
    expect((await http(`${tree.url}/api/jobs`)).body).toEqual({ total: 0, jobs: [] });
  });

  it('bad ids in the path and bad query parameters get 400 naming the field', async () => {
    const tree = await cleanup.tree({ services: inProcessServices(), agentPorts: false });
    const long = 'a'.repeat(200);
    expectBadField(await http(`${tree.url}/api/jobs/bad%20id`), 'id', 'params', 'space in a job id');
    expectBadField(await http(`${tree.url}/api/jobs/${long}`), 'id', 'params', 'over-long job id');
    expectBadField(await http(`${tree.url}/api/agents/-dash`), 'id', 'params', 'agent id starting with a dash');
    expectBadField(await http(`${tree.url}/agents/Mgr-Code-01/status/%2e%2e%2fetc`), 'job_id', 'params', 'job id with a slash');
    expectBadField(await http(`${tree.url}/agents/Prog-001/status/a%20b`), 'task_id', 'params', 'task id with a space');
    expectBadField(await http(`${tree.url}/api/jobs?limit=lots`), 'limit', 'query', 'limit not a number');
    expectBadField(await http(`${tree.url}/api/jobs?limit=0`), 'limit', 'query', 'limit zero');
    expectBadField(await http(`${tree.url}/api/jobs?offset=-1`), 'offset', 'query', 'negative offset');
    expectBadField(await http(`${tree.url}/api/jobs?status=sleeping`), 'status', 'query', 'unknown status');
    expectBadField(await http(`${tree.url}/api/jobs?colour=blue`), 'colour', 'query', 'unknown query key');
  });

  it('unknown jobs, tasks, agents and routes get 404 in the same shape', async () => {
    const tree = await cleanup.tree({ services: inProcessServices() });
    const mgr = `http://127.0.0.1:${tree.gateway!.agentPorts.get('Mgr-Code-01')}`;
    const prog = `http://127.0.0.1:${tree.gateway!.agentPorts.get('Prog-001')}`;
    expectError(await http(`${tree.url}/api/jobs/nosuchjob`), 404, 'PAS_ERR_JOB_NOT_FOUND', 'unknown job on /api');
    expectError(await http(`${mgr}/status/nosuchjob`), 404, 'PAS_ERR_JOB_NOT_FOUND', 'unknown job on a Manager');
    expectError(await http(`${tree.url}/agents/Architect/status/nosuchjob`), 404, 'PAS_ERR_JOB_NOT_FOUND', 'unknown job on the Architect');
    expectError(await http(`${prog}/status/nosuchtask`), 404, 'PAS_ERR_TASK_NOT_FOUND', 'unknown task on a Programmer');
    expectError(await http(`${tree.url}/api/jobs/nosuchjob/cancel`, { method: 'POST', body: {} }), 404, 'PAS_ERR_JOB_NOT_FOUND', 'cancel an unknown job');
    expectError(await http(`${tree.url}/api/agents/Prog-999`), 404, 'PAS_ERR_AGENT_NOT_FOUND', 'unknown agent on /api');
    expectError(await http(`${tree.url}/api/settings/llm/Prog-999`, { method: 'PUT', body: { primary: 'openai/gpt-4o' } }), 404, 'PAS_ERR_AGENT_NOT_FOUND', 'settings of an unknown agent');
    expectError(await http(`${tree.url}/agents/Prog-999/health`), 404, 'PAS_ERR_NOT_FOUND', 'unknown agent prefix');
    expectError(await http(`${tree.url}/api/nothing-here`), 404, 'PAS_ERR_NOT_FOUND', 'unknown route');
    expectError(await http(`${prog}/submit`, { body: { task: 'x' } }), 404, 'PAS_ERR_NOT_FOUND', 'a Programmer takes no jobs');
    expectError(await http(`${mgr}/execute`, { body: { instruction: 'x', files: ['a'] } }), 404, 'PAS_ERR_NOT_FOUND', 'a Manager takes no tasks');
    expectError(await http(`${tree.url}/api/jobs`, { method: 'DELETE' }), 404, 'PAS_ERR_NOT_FOUND', 'unknown method on a route');
  });

  it('an oversized body gets 413 in the error shape, whole, even while the client is still sending, and the server keeps answering', async () => {
    const cfg = tempConfig();
    cleanup.defer(() => cfg.cleanup());
    cfg.edit('pas.yaml', (doc) => doc.setIn(['gateway', 'body_limit_bytes'], 4096));
    const tree = await cleanup.tree({ services: inProcessServices(), configDir: cfg.dir });
    const mgr = `http://127.0.0.1:${tree.gateway!.agentPorts.get('Mgr-Code-02')}`;
    // A body far over the limit is still on its way when the server has decided: the server reads
    // and discards the rest before it closes, so the client gets the answer, never a reset.
    for (const size of [5000, 512 * 1024]) {
      const big = { task: 'x'.repeat(size) };
      expectError(await http(`${tree.url}/api/jobs`, { body: big }), 413, 'PAS_ERR_PAYLOAD_TOO_LARGE', `gateway, ${size} bytes`);
      expectError(await http(`${mgr}/submit`, { body: big }), 413, 'PAS_ERR_PAYLOAD_TOO_LARGE', `Manager port, ${size} bytes`);
    }
    // The client is still sending when the server has decided: the rest is read before the close.
    const half = 256 * 1024;
    const slow = await slowUpload(tree.gateway!.port, '/api/jobs', 2 * half, half);
    expect(slow.error, slow.text).toBeUndefined();
    expect(slow.status, slow.text).toBe(413);
    expect(slow.text).toContain('PAS_ERR_PAYLOAD_TOO_LARGE');
    // A body that is just under the limit is read and validated as usual.
    expect((await http(`${mgr}/submit`, { body: { task: 'x'.repeat(3000) } })).status).toBe(202);
    expect((await http(`${tree.url}/health`)).status).toBe(200);
  });

  it('garbage never gets a 5xx: invalid JSON, wrong content types, empty and odd bodies, broken HTTP', async () => {
    const tree = await cleanup.tree({ services: inProcessServices() });
    const mgr = `http://127.0.0.1:${tree.gateway!.agentPorts.get('Mgr-Code-01')}`;
    const targets = [`${tree.url}/api/jobs`, `${mgr}/submit`, `${tree.url}/agents/Prog-003/execute`];
    const bodies: Array<[raw: string, contentType: string | undefined]> = [
      ['{"task": "x"', 'application/json'],
      ['{task: x}', 'application/json'],
      ['', 'application/json'],
      ['null', 'application/json'],
      ['[]', 'application/json'],
      ['"just a string"', 'application/json'],
      ['12', 'application/json'],
      ['{"__proto__": {"polluted": true}, "task": "x"}', 'application/json'],
      ['{"constructor": {"prototype": {"polluted": true}}}', 'application/json'],
      ['task=x', 'application/x-www-form-urlencoded'],
      ['<job><task>x</task></job>', 'application/xml'],
      ['hello', 'text/plain'],
      ['\u0000\u0001\u0002', 'application/octet-stream'],
      ['{"task":"x"}', undefined], // fetch sends a string as text/plain
    ];
    for (const url of targets) {
      for (const [raw, contentType] of bodies) {
        const answer = await http(url, { method: 'POST', raw, headers: contentType ? { 'content-type': contentType } : {} });
        const what = `${url} ${contentType} ${JSON.stringify(raw)}`;
        expect(answer.status, `${what}: ${answer.text}`).toBeGreaterThanOrEqual(400);
        expect(answer.status, `${what}: ${answer.text}`).toBeLessThan(500);
        expect(answer.body?.error?.code, what).toMatch(/^PAS_ERR_/);
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    // Broken HTTP on the raw socket: a bad request line, a lying content-length, a bad header.
    const port = tree.gateway!.port;
    const broken = [
      'NOT-HTTP\r\n\r\n',
      'POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\nConnection: close\r\n\r\n{"task":"x"}',
      'GET /api/tree HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n',
    ];
    for (const request of broken) {
      const answer = await Promise.race([
        rawRequest(port, request),
        // A request whose body never fully arrives is never answered; the socket is left to time out.
        new Promise<{ status: number }>((resolve) => setTimeout(() => resolve({ status: 0 }), 500)),
      ]);
      expect(answer.status === 0 || (answer.status >= 400 && answer.status < 500), JSON.stringify(request)).toBe(true);
    }
    expect((await http(`${tree.url}/health`)).status).toBe(200);
    expect((await http(`${mgr}/health`)).status).toBe(200);
    expect((await http(`${tree.url}/api/jobs`, { body: { task: 'still works' } })).status).toBe(202);
  });

  it('with a token set, mutating calls without it or with a wrong one get 401, GETs stay open, the right token is accepted', async () => {
    const token = 'test-token-4f1c2e';
    const tree = await cleanup.tree({ services: inProcessServices(), gatewayOptions: { token } });
    const mgr = `http://127.0.0.1:${tree.gateway!.agentPorts.get('Mgr-Code-01')}`;
    const prog = `http://127.0.0.1:${tree.gateway!.agentPorts.get('Prog-001')}`;
    const mutating: Array<[url: string, method: string, body: unknown]> = [
      [`${tree.url}/api/jobs`, 'POST', { task: 'x' }],
      [`${tree.url}/api/settings/llm/Prog-001`, 'PUT', { primary: 'ollama/qwen2.5-coder:14b-instruct' }],
      [`${tree.url}/api/agents/Prog-001/reset`, 'POST', {}],
      [`${tree.url}/agents/Mgr-Code-01/submit`, 'POST', { task: 'x' }],
      [`${mgr}/submit`, 'POST', { task: 'x' }],
      [`${prog}/execute`, 'POST', { instruction: 'x', files: ['a.ts'] }],
      [`${prog}/agent_chat/receive`, 'POST', { from: 'a', message: 'b' }],
    ];
    for (const [url, method, body] of mutating) {
      for (const authorization of [undefined, 'Bearer wrong-token-000000', `Basic ${token}`, `Bearer ${token}x`, 'Bearer']) {
        const answer = await http(url, { method, body, headers: authorization ? { authorization } : {} });
        expectError(answer, 401, 'PAS_ERR_UNAUTHORIZED', `${method} ${url} with ${authorization}`);
        expect(answer.headers.get('www-authenticate')).toBe('Bearer');
        expect(answer.text).not.toContain(token);
      }
    }
    // Even a bad body is refused as unauthorized first, so nothing about the API leaks.
    expectError(await http(`${tree.url}/api/jobs`, { method: 'POST', raw: '{broken', headers: { 'content-type': 'application/json' } }), 401, 'PAS_ERR_UNAUTHORIZED', 'bad body without token');
    expect(tree.runtime.journal.countJobs()).toBe(0);

    for (const url of [`${tree.url}/api/jobs`, `${tree.url}/api/tree`, `${tree.url}/metrics`, `${mgr}/health`, `${prog}/health`, `${mgr}/programmer_pool/status`]) {
      expect((await http(url)).status, url).toBe(200);
    }
    const ok = await http(`${tree.url}/api/jobs`, { body: { task: 'authorized' }, headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(202);
    const own = await http(`${mgr}/submit`, { body: { task: 'authorized too' }, headers: { authorization: `bearer ${token}` } });
    expect(own.status).toBe(202);
    expect(tree.runtime.journal.countJobs()).toBe(2);
  });
});
