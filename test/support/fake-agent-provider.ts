/**
 * A local model server (127.0.0.1, port 0) that real coding-agent CLIs talk to: it speaks each
 * provider's wire format for tool-calling conversations (one dialect per file in
 * `agent-dialects/`) and plays a scripted conversation per model. Turn N of a script answers the
 * request that carries N tool results, so the CLI really runs each tool (writes the file, runs the
 * command) before the next turn, and a retried request gets the same turn again.
 *
 * A model can instead be scripted to fail every request with an HTTP status (in the provider's
 * own error body) or to hang. Every request is recorded; `sentUsage(model)` sums the usage the
 * server sent, so a test can compare it with the receipt.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { anthropicDialect } from './agent-dialects/anthropic.ts';
import type { AgentTurn, FakeDialect, ModelScript, ScriptedTurn, TurnUsage } from './agent-dialects/dialect.ts';
import { openAiResponsesDialect } from './agent-dialects/openai-responses.ts';

export { sseFrame } from './agent-dialects/dialect.ts';
export type { AgentTurn, FakeDialect, ModelScript, ScriptedTurn, TurnUsage };

/** Every dialect the server speaks; a new CLI's dialect is added here. */
export const DIALECTS: FakeDialect[] = [anthropicDialect, openAiResponsesDialect];

export interface AgentRequest {
  method: string;
  path: string;
  dialect: string | undefined;
  model: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** The turn index answered, or the failure sent. */
  answered: number | 'fail' | 'hang' | 'none';
}

export interface FakeAgentProvider {
  /** `http://127.0.0.1:port` (models.yaml base_url for anthropic, google). */
  origin: string;
  /** `${origin}/v1` (models.yaml base_url for openai). */
  openaiUrl: string;
  requests: AgentRequest[];
  /** Scripts by model name; may be changed between runs. */
  scripts: Map<string, ModelScript>;
  /** The usage the server sent for a model, summed over its answered turns. */
  sentUsage(model: string): Required<TurnUsage>;
  /** Requests that reached the model (answered, failed or hung). */
  callsTo(model: string): AgentRequest[];
  close(): Promise<void>;
}

export const DEFAULT_TURN_USAGE: TurnUsage = { input: 120, output: 30, cacheRead: 0, cacheWrite: 0, thinking: 0 };

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startFakeAgentProvider(scripts: Record<string, ModelScript> = {}): Promise<FakeAgentProvider> {
  const requests: AgentRequest[] = [];
  const scriptMap = new Map<string, ModelScript>(Object.entries(scripts));
  const sent = new Map<string, Required<TurnUsage>>();
  const open = new Set<ServerResponse>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    let body: Record<string, unknown> = {};
    try {
      body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    } catch {
      // keep {}
    }
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const record: AgentRequest = { method, path, dialect: undefined, model: undefined, headers: req.headers, body, answered: 'none' };
    requests.push(record);
    const dialect = DIALECTS.find((d) => d.route(method, path));
    if (!dialect) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `no route ${method} ${path}` } }));
      return;
    }
    const model = dialect.model(body, path);
    record.dialect = dialect.name;
    record.model = model;
    const script = scriptMap.get(model);
    if (script === undefined) {
      const err = dialect.error(404);
      res.writeHead(404, { 'content-type': 'application/json', ...err.headers });
      res.end(JSON.stringify(err.body));
      return;
    }
    if (script === 'hang') {
      record.answered = 'hang';
      open.add(res);
      res.on('close', () => open.delete(res));
      return;
    }
    if (!Array.isArray(script)) {
      record.answered = 'fail';
      const err = dialect.error(script.fail);
      res.writeHead(script.fail, { 'content-type': 'application/json', ...err.headers, ...script.headers });
      res.end(JSON.stringify(err.body));
      return;
    }
    const index = dialect.toolResults(body);
    const scripted = script[Math.min(index, script.length - 1)];
    if (!scripted) throw new Error(`model ${model} has an empty script`);
    const turn = typeof scripted === 'function' ? scripted(raw) : scripted;
    if (turn.waitFor) await turn.waitFor;
    record.answered = index;
    const usage = { ...DEFAULT_TURN_USAGE, ...turn.usage };
    const total = sent.get(model) ?? { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, thinking: 0 };
    sent.set(model, {
      input: total.input + usage.input,
      output: total.output + usage.output,
      cacheRead: total.cacheRead + (usage.cacheRead ?? 0),
      cacheWrite: total.cacheWrite + (usage.cacheWrite ?? 0),
      thinking: total.thinking + (usage.thinking ?? 0),
    });
    await dialect.answer(res, { ...turn, usage }, { model, cwd: dialect.cwd(body), index, body });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: String(err) } }));
      } else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    openaiUrl: `${origin}/v1`,
    requests,
    scripts: scriptMap,
    sentUsage: (model) => sent.get(model) ?? { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, thinking: 0 },
    callsTo: (model) => requests.filter((r) => r.model === model),
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of open) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
