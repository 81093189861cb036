import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PasError, toErrorData } from '../../src/errors.ts';
import { openJournal } from '../../src/journal/journal.ts';
import { ReceiptWriter } from '../../src/llm/receipt-writer.ts';
import { redactedJson, redactSecrets, registerSecretEnvNames, secretValues } from '../../src/redaction.ts';

describe('redactSecrets', () => {
  it('replaces the values of *_API_KEY and *_TOKEN variables of 8+ characters', () => {
    const env = { OPENAI_API_KEY: 'sk-abcdefgh12345', PAS_API_TOKEN: 'tok-98765432', SHORT_TOKEN: 'abc', HOME: '/home/me' };
    const out = redactSecrets('key sk-abcdefgh12345 token tok-98765432 short abc home /home/me', env);
    expect(out).toBe('key [REDACTED] token [REDACTED] short abc home /home/me');
  });

  it('replaces the value of every api_key_env named in models.yaml whatever its name', () => {
    registerSecretEnvNames(['MY_PROVIDER_SECRET']);
    expect(redactSecrets('x=s3cr3t!', { MY_PROVIDER_SECRET: 's3cr3t!' })).toBe('x=[REDACTED]');
  });

  it('replaces every occurrence, longest secret first', () => {
    const env = { A_API_KEY: 'abcdefgh', B_API_KEY: 'abcdefgh-longer' };
    expect(redactSecrets('abcdefgh-longer abcdefgh abcdefgh', env)).toBe('[REDACTED] [REDACTED] [REDACTED]');
  });
});

describe('the one redaction policy', () => {
  const SECRET = 'hunter2-database-password';
  const SIGNING = 'sign-secret-0123456789';
  let dir: string;
  beforeEach(() => {
    process.env.PAS_TEST_DB_PASSWORD = SECRET;
    process.env.PAS_TEST_SIGNING_SECRET = SIGNING;
    dir = mkdtempSync(path.join(os.tmpdir(), 'pas-redaction-'));
  });
  afterEach(() => {
    delete process.env.PAS_TEST_DB_PASSWORD;
    delete process.env.PAS_TEST_SIGNING_SECRET;
    rmSync(dir, { recursive: true, force: true });
  });

  const leak = () => new PasError('PAS_ERR_CMD_FAILED', `psql -W ${SECRET} exited 2`, { details: { stderr: `bad signature ${SIGNING}` } });

  it('scrubs *_SECRET and *_PASSWORD values as well as keys and tokens', () => {
    expect(redactSecrets(`a ${SECRET} b ${SIGNING}`)).toBe('a [REDACTED] b [REDACTED]');
  });

  it('scrubs errors as they become task data', () => {
    const data = toErrorData(leak());
    expect(JSON.stringify(data)).not.toContain(SECRET);
    expect(JSON.stringify(data)).not.toContain(SIGNING);
    expect(data).toMatchObject({ code: 'PAS_ERR_CMD_FAILED', message: 'psql -W [REDACTED] exited 2', details: { stderr: 'bad signature [REDACTED]' } });
  });

  it('stores no secret value in the journal, even from an error built without the policy', () => {
    const journal = openJournal(path.join(dir, 'pas.db'));
    const raw = { code: 'PAS_ERR_CMD_FAILED' as const, retryable: false, message: `failed with ${SECRET}`, details: { why: SIGNING } };
    journal.acceptJob({ id: 'j1', task: 'x', submittedAt: '2026-01-01T00:00:00.000Z' });
    journal.upsertTask({ id: 'j1-t1', jobId: 'j1', managerId: 'M', replyTo: 'M', instruction: 'x', files: [] }, 'running');
    journal.finishTask({ taskId: 'j1-t1', jobId: 'j1', programmerId: 'P', status: 'failed', error: raw });
    journal.finishJob({ jobId: 'j1', managerId: 'M', status: 'failed', tasks: [], error: raw, tokens: { input: 0, output: 0 }, costUsd: 0 });
    journal.close();
    const db = new Database(path.join(dir, 'pas.db'), { readonly: true });
    const rows = JSON.stringify([db.prepare('SELECT * FROM jobs').all(), db.prepare('SELECT * FROM tasks').all()]);
    db.close();
    expect(rows).toContain('[REDACTED]');
    expect(rows).not.toContain(SECRET);
    expect(rows).not.toContain(SIGNING);
  });

  it('writes no secret value into a receipt', async () => {
    const writer = new ReceiptWriter(dir, 'run-1');
    await writer.append({
      run_id: 'run-1', job_id: 'j1', task_id: 't1', agent_id: 'Prog-001', provider: null, model: null, used_backup: false, status: 'failed',
      error: { code: 'PAS_ERR_CMD_FAILED', retryable: false, message: `failed with ${SECRET}` },
      tokens: { input: null, output: null }, cost_usd: 0, duration_ms: 1, kpi: { files_changed: 0, lines_added: 0, lines_removed: 0 },
      started_at: '2026-01-01T00:00:00.000Z', finished_at: '2026-01-01T00:00:00.001Z',
    });
    const text = readFileSync(writer.file, 'utf8');
    expect(text).toContain('failed with [REDACTED]');
    expect(text).not.toContain(SECRET);
  });
});

describe('secret values are read cheaply and still current', () => {
  const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

  it('scrubs a changed value of a secret-named variable at once, and a newly added one from the next event-loop turn', async () => {
    const env: NodeJS.ProcessEnv = { FIRST_API_KEY: 'first-value-0001' };
    expect(redactSecrets('first-value-0001', env)).toBe('[REDACTED]');
    env.FIRST_API_KEY = 'first-value-0002';
    expect(redactSecrets('first-value-0001 first-value-0002', env)).toBe('first-value-0001 [REDACTED]');
    env.LATER_TOKEN = 'later-token-value';
    await nextTurn();
    expect(redactSecrets('later-token-value', env)).toBe('[REDACTED]');
    delete env.LATER_TOKEN;
    expect(redactSecrets('later-token-value', env)).toBe('later-token-value');
  });

  it('scrubs a registered name added to the environment at once', () => {
    const env: NodeJS.ProcessEnv = {};
    expect(redactSecrets('abcd-provider-key', env)).toBe('abcd-provider-key');
    registerSecretEnvNames(['PAS_TEST_PROVIDER_KEY_NAME']);
    env.PAS_TEST_PROVIDER_KEY_NAME = 'abcd-provider-key';
    expect(redactSecrets('abcd-provider-key', env)).toBe('[REDACTED]');
  });

  it('answers the same frozen list while nothing changed', () => {
    const env: NodeJS.ProcessEnv = { A_TOKEN: 'aaaaaaaaaa', B_TOKEN: 'bbbbbbbbbbbbbb' };
    const first = secretValues(env);
    expect(first).toEqual(['bbbbbbbbbbbbbb', 'aaaaaaaaaa']);
    expect(secretValues(env)).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    env.A_TOKEN = 'cccccccccccccccccc';
    expect(secretValues(env)).toEqual(['cccccccccccccccccc', 'bbbbbbbbbbbbbb']);
  });
});

describe('redactedJson', () => {
  it('serializes a value holding no secret exactly as JSON.stringify does', () => {
    const env: NodeJS.ProcessEnv = { X_API_KEY: 'not-in-the-value-123' };
    const value = { a: 'text', n: 1, nested: [{ b: null, when: new Date(0) }], u: undefined };
    expect(redactedJson(value, env)).toBe(JSON.stringify(value));
  });

  it('scrubs a secret holding a quote and a backslash, which JSON escapes', () => {
    const secret = 'pa"ss\\word-1234';
    const env: NodeJS.ProcessEnv = { DB_PASSWORD: secret };
    const out = redactedJson({ message: `login with ${secret} failed`, details: { argv: ['-p', secret] } }, env);
    expect(JSON.parse(out)).toEqual({ message: 'login with [REDACTED] failed', details: { argv: ['-p', '[REDACTED]'] } });
    expect(out).not.toContain(JSON.stringify(secret).slice(1, -1));
  });

  it('scrubs the enumerable fields of an Error inside the value', () => {
    const secret = 'error-field-secret-99';
    const err = Object.assign(new Error('x'), { details: `saw ${secret}` });
    const out = redactedJson({ cause: err }, { SOME_SECRET: secret });
    expect(out).not.toContain(secret);
    expect(JSON.parse(out)).toEqual({ cause: { details: 'saw [REDACTED]' } });
  });
});
