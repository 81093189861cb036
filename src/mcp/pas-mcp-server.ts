/**
 * `pas mcp` (CONTRACT §10): a Model Context Protocol server, so another agent (Claude Code, an
 * IDE, a script) can hand work to a running PAS tree. It is a client of the tree's HTTP API, like
 * `pas submit`; the tools answer with the API's JSON as text and as structured content. A failed
 * call answers `isError` with the PAS error code and message, so the calling model can act on it.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { EXECUTOR_KINDS, LANES } from '../../machines/domain.ts';
import { ApiError, type ApiClient } from '../cli/api-client.ts';
import { verifyArgv } from '../cli/submit.ts';
import { PAS_VERSION } from '../version.ts';

/** This package's version, as MCP clients see it in the handshake. */

type ToolResult = { content: Array<{ type: 'text'; text: string }>; structuredContent?: Record<string, unknown>; isError?: boolean };

function ok(value: Record<string, unknown>): ToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }], structuredContent: value };
}

function failed(err: unknown): ToolResult {
  if (err instanceof ApiError) return { content: [{ type: 'text', text: `${err.code ? `${err.code}: ` : ''}${err.message}` }], isError: true };
  const e = err as { code?: string; message?: string };
  return { content: [{ type: 'text', text: `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}` }], isError: true };
}

async function guarded(fn: () => Promise<Record<string, unknown>>): Promise<ToolResult> {
  try {
    return ok(await fn());
  } catch (err) {
    return failed(err);
  }
}

export function createPasMcpServer(client: ApiClient): McpServer {
  const server = new McpServer({ name: 'pas', version: PAS_VERSION });

  server.registerTool(
    'submit_job',
    {
      title: 'Submit a coding job to the PAS swarm',
      description:
        'Hands a coding task to a running PAS tree. A Manager splits it into subtasks (one per file when files are named), several programmers do them in parallel in git worktrees, and the task branches are merged into pas/job-<id>. Returns the job id at once; follow it with job_status.',
      inputSchema: {
        task: z.string().min(1).describe('what to do, in plain words'),
        files: z.array(z.string().min(1)).optional().describe('files to work on, relative to repo'),
        repo: z.string().min(1).optional().describe('absolute path of the git repository (default: a scratch repository)'),
        lane: z.enum(LANES as [string, ...string[]]).optional().describe('which Director takes it (default: the Architect decides)'),
        verify: z.string().min(1).optional().describe('a command each subtask must pass after its edit, e.g. "npm test" (must match cmd_allowlist.yaml)'),
        executor: z.enum(EXECUTOR_KINDS).optional().describe("what runs every subtask (default: each programmer's own executor)"),
      },
    },
    ({ task, files, repo, lane, verify, executor }) =>
      guarded(() =>
        client.post<Record<string, unknown>>('/api/jobs', {
          task,
          ...(files && files.length > 0 ? { files } : {}),
          ...(repo ? { repo } : {}),
          ...(lane ? { lane } : {}),
          ...(verify ? { verify: verifyArgv(verify, 'verify') } : {}),
          ...(executor ? { executor } : {}),
        }),
      ),
  );

  server.registerTool(
    'job_status',
    {
      title: 'A PAS job and its subtasks',
      description:
        'One job (status accepted, running, completed, partial, failed or cancelled; subtasks with their programmer, status and error; merged branch; notes such as a fallback plan or offline mode), or the newest jobs when job_id is omitted.',
      inputSchema: {
        job_id: z.string().min(1).optional().describe('the id submit_job returned; omit to list recent jobs'),
        limit: z.number().int().min(1).max(1000).optional().describe('how many jobs to list (default 20)'),
      },
      annotations: { readOnlyHint: true },
    },
    ({ job_id, limit }) =>
      guarded(() =>
        job_id
          ? client.get<Record<string, unknown>>(`/api/jobs/${encodeURIComponent(job_id)}`)
          : client.get<Record<string, unknown>>(`/api/jobs?limit=${limit ?? 20}`),
      ),
  );

  server.registerTool(
    'cancel_job',
    {
      title: 'Cancel a PAS job',
      description: 'Cancels a job: running subtasks are stopped and nothing more is merged. cancelling is false when the job had already ended.',
      inputSchema: { job_id: z.string().min(1).describe('the job to cancel') },
      annotations: { destructiveHint: true, idempotentHint: true },
    },
    ({ job_id }) => guarded(() => client.post<Record<string, unknown>>(`/api/jobs/${encodeURIComponent(job_id)}/cancel`, {})),
  );

  server.registerTool(
    'list_agents',
    {
      title: 'The agents of the PAS tree',
      description: 'Every agent (Architect, Directors, Managers, Programmers) with its state, its LLM (primary or backup, breaker state and the cause that opened it) and its current task.',
      inputSchema: {},
      annotations: { readOnlyHint: true },
    },
    () => guarded(() => client.get<Record<string, unknown>>('/api/agents')),
  );

  return server;
}
