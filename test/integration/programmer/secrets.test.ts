/**
 * Keys come only from the environment and never come back out: after a task that ran and tasks
 * whose calls failed (one provider echoing the key in its error, as OpenAI's 401 does), the key
 * is in no HTTP answer, no /ws message, no receipt and no line of the pino log file.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/runtime/logger.ts';
import { createDefaultServices } from '../../../src/runtime/default-services.ts';
import { startFakeProvider, type FakeProvider } from '../../support/fake-llm-server.ts';
import { createTempRepo, type TempRepo } from '../../support/git-fixtures.ts';
import type { TempConfig } from '../../support/test-config.ts';
import { startTestTree, type TestTree } from '../../support/test-tree.ts';
import {
  agentUrl,
  BASE_URL_ENV,
  EDIT_REPLY,
  GREET,
  http,
  openFeed,
  programmerConfig,
  receiptsFile,
  runTask,
  setEnv,
  until,
  type FeedClient,
} from './programmer-harness.ts';

const OPENAI_KEY = 'sk-test-abcdef123456';
const GEMINI_KEY = 'AIzaSyTEST-gemini-987654';

describe('provider keys', () => {
  let tree: TestTree | undefined;
  const servers: FakeProvider[] = [];
  let cfg: TempConfig | undefined;
  let fixture: TempRepo | undefined;
  let feed: FeedClient | undefined;
  let logDir: string | undefined;
  let restoreEnv: (() => void) | undefined;

  afterEach(async () => {
    feed?.close();
    await tree?.close();
    await Promise.all(servers.splice(0).map((s) => s.close()));
    await fixture?.cleanup();
    cfg?.cleanup();
    if (logDir) rmSync(logDir, { recursive: true, force: true });
    restoreEnv?.();
    tree = cfg = fixture = feed = logDir = restoreEnv = undefined;
  });

  it('never appear in HTTP answers, the feed, receipts or the log file, whether calls succeed or fail', async () => {
    restoreEnv = setEnv({ ...Object.fromEntries(BASE_URL_ENV.map((n) => [n, undefined])), OPENAI_API_KEY: OPENAI_KEY, GEMINI_API_KEY: GEMINI_KEY });
    // OpenAI: one good answer, then 401s that quote the key back, as api.openai.com does.
    const openai = await startFakeProvider({ kind: 'openai', reply: EDIT_REPLY, script: ['ok', { error: 'auth' }, { error: 'auth' }] });
    const google = await startFakeProvider({ kind: 'google', script: [{ error: 'server' }, { error: 'auth' }] });
    servers.push(openai, google);
    cfg = programmerConfig({
      programmers: [
        { id: 'Prog-001', primary: 'openai/gpt-4o', backup: 'openai/gpt-4o-mini', capabilities: ['premium', 'paid'] },
        { id: 'Prog-002', primary: 'google/gemini-2.5-flash', backup: 'google/gemini-2.5-pro', capabilities: ['premium', 'paid'] },
      ],
      baseUrls: { openai: openai.url, google: google.url },
    });
    fixture = await createTempRepo({ 'src/greet.ts': GREET });
    logDir = mkdtempSync(path.join(os.tmpdir(), 'pas-log-'));
    const logFile = path.join(logDir, 'pas.ndjson');
    const logger: Logger = createLogger({ file: logFile, level: 'debug' });
    tree = await startTestTree({ configDir: cfg.dir, logger, services: createDefaultServices({}) });
    feed = await openFeed(tree.url);
    const p1 = agentUrl(tree, 'Prog-001');
    const p2 = agentUrl(tree, 'Prog-002');
    const body = (taskId: string) => ({ task_id: taskId, instruction: "Say 'hi' and add a farewell.", files: ['src/greet.ts'], repo: fixture!.repo });

    const answers: string[] = [];
    const ok = await runTask(p1, body('s-1'));
    expect(ok.task.status).toBe('completed');
    const failed = await runTask(p1, body('s-2'));
    expect(failed.task.status).toBe('failed');
    expect(failed.task.error.code).toBe('PAS_ERR_LLM_ALL_FAILED');
    const failedGoogle = await runTask(p2, body('s-3'));
    expect(failedGoogle.task.status).toBe('failed');

    // The keys were really in play: sent by the client, and quoted back by the 401.
    expect(openai.requests[1]!.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
    expect(google.requests[0]!.headers['x-goog-api-key'] ?? google.requests[0]!.path).toContain(GEMINI_KEY);
    expect(JSON.stringify(failed.task.error)).toContain('PAS_ERR_LLM_AUTH');
    expect(JSON.stringify(failed.task.error)).toContain('Incorrect API key provided: [REDACTED]');

    for (const [base, id] of [
      [p1, 's-1'],
      [p1, 's-2'],
      [p2, 's-3'],
    ] as const) {
      answers.push((await http(`${base}/status/${id}`)).text, (await http(`${tree.url}/agents/${id === 's-3' ? 'Prog-002' : 'Prog-001'}/status/${id}`)).text);
    }
    for (const url of [
      `${p1}/health`,
      `${p2}/health`,
      `${tree.url}/api/agents`,
      `${tree.url}/api/agents/Prog-001`,
      `${tree.url}/api/tree`,
      `${tree.url}/api/pool`,
      `${tree.url}/api/models`,
      `${tree.url}/api/settings/llm`,
      `${tree.url}/api/jobs`,
      `${tree.url}/metrics`,
      `${tree.url}/health`,
    ]) {
      const answer = await http(url);
      expect(answer.status, url).toBe(200);
      answers.push(answer.text);
    }
    // A bad request that carries the key is answered without it.
    const bad = await http(`${p1}/execute`, { body: { instruction: 'x', files: ['src/greet.ts'], [OPENAI_KEY]: OPENAI_KEY } });
    expect(bad.status).toBe(400);
    answers.push(bad.text);

    for (const text of answers) {
      expect(text).not.toContain(OPENAI_KEY);
      expect(text).not.toContain(GEMINI_KEY);
    }

    await until(() => feed!.messages.some((m) => m.taskId === 's-3' && m.from === 'EXECUTING'), 'the last task on the feed');
    const feedText = feed.raw.join('\n');
    expect(feedText).not.toContain(OPENAI_KEY);
    expect(feedText).not.toContain(GEMINI_KEY);

    const receipts = readFileSync(receiptsFile(tree), 'utf8');
    expect(receipts.trim().split('\n')).toHaveLength(3);
    expect(receipts).toContain('PAS_ERR_LLM_ALL_FAILED');
    expect(receipts).not.toContain(OPENAI_KEY);
    expect(receipts).not.toContain(GEMINI_KEY);

    await tree.close();
    tree = undefined;
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    const log = readFileSync(logFile, 'utf8');
    // The log really holds the failed calls (so the check below is not vacuous).
    expect(log).toContain('PAS_ERR_LLM_AUTH');
    expect(log).toContain('s-2');
    expect(log).not.toContain(OPENAI_KEY);
    expect(log).not.toContain(GEMINI_KEY);
  });
});
