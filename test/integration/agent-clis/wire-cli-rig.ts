/**
 * What the suites that drive Gemini CLI and opencode against the scripted wire server share: a
 * temp repository and a server answering with the test's responder, both closed after each test;
 * each CLI's own file-writing tool; the allowlists; and the checks that a refused write commits
 * nothing and that a stopped run leaves no process and no private home behind.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, expect } from 'vitest';
import type { TaskResult } from '../../../machines/domain.ts';
import type { CmdAllowlist, FsAllowlist } from '../../../src/config/schemas.ts';
import { requestCwd } from '../../../src/llm/wire/scripted-tool-calls.ts';
import type { WireRequest } from '../../../src/llm/wire/wire-turn.ts';
import { createTempRepo, gitOut, waitFor, type TempRepo } from '../../support/git-fixtures.ts';
import { startScriptedWireServer, type ScriptedWireServer, type WireBehaviour } from '../../support/scripted-wire-server.ts';
import { processesUnder } from '../../support/wire-task-harness.ts';

export const WIRE_FS_ALLOWLIST: FsAllowlist = { read: ['**/*'], write: ['src/**'], deny: ['**/.env'] };
/** The task's verify command: the one shell command the CLI may run. */
export const GIT_STATUS_ALLOWLIST: CmdAllowlist = { timeout_s: 30, commands: [{ name: 'git-status', program: 'git', args: ['status', '--short'], allow_extra_args: false }] };

/** A CLI's own tool that writes a whole file, with its argument names. */
export type WriteTool = (file: string, content: string) => { name: string; input: Record<string, unknown> };
export const GEMINI_WRITE: WriteTool = (file, content) => ({ name: 'write_file', input: { file_path: file, content } });
export const OPENCODE_WRITE: WriteTool = (file, content) => ({ name: 'write', input: { filePath: file, content } });

export interface WireCliRig {
  readonly fixture: TempRepo;
  readonly server: ScriptedWireServer;
  /** Makes the repository of `files` and starts the server answering with `respond`. */
  start(files: Record<string, string>, respond: (request: WireRequest) => WireBehaviour): Promise<{ fixture: TempRepo; server: ScriptedWireServer; runsDir: string }>;
}

export function wireCliRig(): WireCliRig {
  let fixture: TempRepo | undefined;
  let server: ScriptedWireServer | undefined;
  afterEach(async () => {
    await server?.close();
    await fixture?.cleanup();
    server = undefined;
    fixture = undefined;
  });
  return {
    get fixture() {
      if (!fixture) throw new Error('wireCliRig: call start() first');
      return fixture;
    },
    get server() {
      if (!server) throw new Error('wireCliRig: call start() first');
      return server;
    },
    async start(files, respond) {
      fixture = await createTempRepo(files);
      server = await startScriptedWireServer(respond);
      return { fixture, server, runsDir: path.join(fixture.root, 'agent-runs') };
    },
  };
}

/** A model whose first turn writes config/settings.json (outside the allowlist's `src/**`) with the CLI's own tool. */
export function writesOutsideAllowlist(write: WriteTool) {
  return (request: WireRequest): WireBehaviour => {
    if (request.toolRounds > 0) return { turn: { text: 'Done.', usage: { input: 10, output: 2 } } };
    const cwd = requestCwd(request) ?? '';
    return { turn: { toolCalls: [write(path.join(cwd, 'config/settings.json'), '{"debug": true}\n')], usage: { input: 10, output: 5 } } };
  };
}

/** The subtask failed on the allowlist and no task branch was made. */
export async function expectRefusedOutsideAllowlist(result: TaskResult, fixture: TempRepo): Promise<void> {
  expect(result.status).toBe('failed');
  expect(result.error?.code).toBe('PAS_ERR_FS_NOT_ALLOWED');
  expect(await gitOut(fixture.repo, 'branch', '--list', 'pas/*')).not.toContain('t1');
}

/** No process of the run is left under the workspaces, and its private home is gone. */
export async function expectNothingLeft(fixture: TempRepo, runsDir: string): Promise<void> {
  expect(await waitFor(async () => (await processesUnder(fixture.workspacesDir)).length === 0, 5_000)).toBe(true);
  expect(existsSync(runsDir) ? await readdir(runsDir) : []).toEqual([]);
}
