import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { logMessage, terminalLogStream } from '../../../src/runtime/log-line.ts';

describe('log lines on a terminal', () => {
  it('turns a transition into who, from → to, the event and the job and task', () => {
    expect(logMessage({ msg: 'transition', agentId: 'Prog-003', from: 'IDLE', to: 'EXECUTING', event: 'task.assigned', jobId: 'abc', taskId: 'abc-t1', seq: 7, role: 'programmer' })).toBe(
      'Prog-003       IDLE → EXECUTING (task.assigned) job=abc task=abc-t1',
    );
  });

  it('keeps an error’s code and message and cuts very long lines', () => {
    expect(logMessage({ msg: 'plan call failed; one subtask per file', agentId: 'Mgr-Code-01', jobId: 'j1', error: { code: 'PAS_ERR_LLM_ALL_FAILED', message: 'every model failed' } })).toBe(
      'Mgr-Code-01    plan call failed; one subtask per file job=j1 — PAS_ERR_LLM_ALL_FAILED: every model failed',
    );
    expect(logMessage({ msg: 'x'.repeat(400) }).length).toBe(220);
  });

  it('names the worker, the programmers and the URL a distribution line is about, but not a worker\'s own bound name', () => {
    expect(logMessage({ msg: 'worker offline', component: 'distribution', worker: 'w1', programmers: ['Prog-001', 'Prog-002'], code: 'PAS_ERR_DIST_WORKER_OFFLINE' })).toBe(
      'worker offline worker=w1 programmers=Prog-001,Prog-002 — PAS_ERR_DIST_WORKER_OFFLINE',
    );
    expect(logMessage({ msg: 'programmers whose worker is not reachable get no work', component: 'distribution', unreachable: ['Prog-004'] })).toBe('programmers whose worker is not reachable get no work unreachable=Prog-004');
    expect(logMessage({ msg: 'worker LLM gateway listening', component: 'worker', worker: 'w1', url: 'http://127.0.0.1:41000' })).toBe('worker LLM gateway listening url=http://127.0.0.1:41000');
    expect(logMessage({ msg: 'every remote programmer is reachable', component: 'distribution', unreachable: [] })).toBe('every remote programmer is reachable');
  });

  it('writes one line per entry through pino, without colour when asked, ending in a newline', async () => {
    let out = '';
    const sink = new Writable({ write(chunk, _enc, cb) { out += String(chunk); cb(); } });
    const logger = pino({}, terminalLogStream({ colour: false, destination: sink }));
    logger.info({ agentId: 'Architect', from: 'IDLE', to: 'EXECUTING', event: 'job.submitted', jobId: 'j9' }, 'transition');
    logger.warn({ agentId: 'Prog-001', error: { code: 'PAS_ERR_X', message: 'boom' } }, 'llm call failed');
    await new Promise((r) => setTimeout(r, 20));
    const lines = out.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: Architect +IDLE → EXECUTING \(job\.submitted\) job=j9$/);
    expect(lines[1]).toMatch(/^\[\d\d:\d\d:\d\d\] WARN: Prog-001 +llm call failed — PAS_ERR_X: boom$/);
    expect(out).not.toContain('\x1b[');
  });
});
