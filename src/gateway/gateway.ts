/**
 * Starts the gateway (HMI, /api, /agents/{id}/…, /ws, /metrics) and one fastify server per agent
 * on its own port. Binds to 127.0.0.1 unless configured otherwise; with PAS_API_TOKEN set every
 * mutating request needs `Authorization: Bearer <token>`.
 */
import { timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { PasError } from '../errors.ts';
import { registerSecretEnvNames, scrubText, secretValues } from '../redaction.ts';
import type { Runtime } from '../runtime/create-runtime.ts';
import type { AgentInfo } from '../runtime/topology.ts';
import { registerAgentRoutes } from './agent-routes.ts';
import { registerApiRoutes } from './api-routes.ts';
import { registerDoctorRoute } from './doctor-route.ts';
import type { DoctorRow } from '../doctor/doctor-checks.ts';
import { FeedHub } from './feed-hub.ts';
import { ConnectionGuard, resolveMaxConnections } from './connection-guard.ts';
import { guardUpgrades, refuseOtherHosts } from './host-check.ts';
import { errorBody, installErrorHandling } from './http-errors.ts';
import { bridgePage, INSPECT_PATH, InspectorRelay } from './inspector-relay.ts';
import { registerLlmProxy } from './llm-proxy/register-llm-proxy.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { answerStrayUpgrades } from './stray-upgrades.ts';
import { drainRefusedBodies } from './refused-body-drain.ts';
import { closeTimedOutSocketsSafely } from './stall-safe-timeouts.ts';

export interface GatewayOptions {
  host?: string;
  /** Defaults to process.env.PAS_API_TOKEN. */
  token?: string;
  /** Start one server per agent on its own port (default true). */
  agentPorts?: boolean;
  /** Folder of the HMI's static files. */
  hmiDir?: string;
  /** Listen on this gateway port instead of the configured one (0 picks a free port; tests). */
  port?: number;
  /** Host the Stately inspector relay at /inspect (`pas up --inspect`). */
  inspectorRelay?: boolean;
  /** The inspector UI the bridge page embeds. */
  inspectorUiUrl?: string;
  /** What GET /api/doctor runs (`pas up` passes its offline-aware checks); without it there is no /api/doctor. */
  doctor?: () => Promise<DoctorRow[]>;
}

export interface Gateway {
  readonly url: string;
  readonly port: number;
  readonly host: string;
  readonly hub: FeedHub;
  readonly metrics: Metrics;
  readonly app: FastifyInstance;
  /** agentId → the port its own server listens on. */
  readonly agentPorts: Map<string, number>;
  close(): Promise<void>;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
export const DEFAULT_HMI_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'hmi');

function tokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!.trim());
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

function buildApp(runtime: Runtime, options: { token: string | undefined; metrics: Metrics; label: string; host: string; secrets: readonly string[]; connections: ConnectionGuard }): FastifyInstance {
  const { secrets } = options;
  const { limits, allowed_hosts: allowedHosts } = runtime.config.pas.gateway;
  const ms = (seconds: number) => Math.round(seconds * 1000);
  const app = Fastify({
    bodyLimit: runtime.config.pas.gateway.body_limit_bytes,
    logger: false,
    routerOptions: { maxParamLength: 256 },
    forceCloseConnections: true,
    // Slow or silent clients are cut: headers, the whole request, idle keep-alive, no traffic at all.
    connectionTimeout: ms(limits.idle_timeout_s),
    keepAliveTimeout: ms(limits.keep_alive_timeout_s),
    requestTimeout: ms(limits.request_timeout_s),
    http: {
      headersTimeout: ms(Math.min(limits.headers_timeout_s, limits.request_timeout_s)),
      requestTimeout: ms(limits.request_timeout_s),
      connectionsCheckingInterval: Math.max(50, Math.min(1000, ms(limits.headers_timeout_s) / 4)),
    },
  });
  options.connections.watch(app.server);
  // A stall of the process never closes a kept-alive socket under a request already sent on it.
  closeTimedOutSocketsSafely(app.server);
  installErrorHandling(app, (text) => scrubText(text, secrets));
  drainRefusedBodies(app);
  refuseOtherHosts(app, options.host, (host) => `Host "${host}" is not this machine; PAS answers only requests for ${options.host} or localhost`, allowedHosts);
  if (options.token) {
    const token = options.token;
    app.addHook('onRequest', async (request, reply) => {
      // The LLM gateway's callers authenticate with their per-task credential instead (CONTRACT §9).
      if (MUTATING.has(request.method) && !request.url.startsWith('/llm/') && !tokenMatches(request.headers.authorization, token)) {
        return reply.status(401).header('www-authenticate', 'Bearer').send(errorBody('PAS_ERR_UNAUTHORIZED', 'this endpoint needs Authorization: Bearer <PAS_API_TOKEN>'));
      }
    });
  }
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    options.metrics.httpObserve(request.method, `${options.label}${route}`, reply.statusCode, reply.elapsedTime / 1000);
  });
  return app;
}

function serveHmi(app: FastifyInstance, dir: string): void {
  if (!existsSync(dir)) return;
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const name of readdirSync(dir)) {
    const type = CONTENT_TYPES[path.extname(name)];
    if (type) files.set(name, { body: readFileSync(path.join(dir, name)), type });
  }
  const send = (name: string) => async (_request: unknown, reply: FastifyReply) => {
    const file = files.get(name)!;
    return reply.header('content-type', file.type).header('cache-control', 'no-cache').send(file.body);
  };
  if (files.has('index.html')) app.get('/', send('index.html'));
  for (const name of files.keys()) app.get(`/hmi/${name}`, send(name));
}

/** Feeds metrics from the facts the statecharts state (tasks, jobs, usage) and the tree. */
function wireMetrics(runtime: Runtime, metrics: Metrics): () => void {
  metrics.setAgentStates(() => runtime.tree().filter((n) => n.role !== 'breaker'));
  metrics.setQueueDepth(() => runtime.poolStatus().total_queue_depth);
  metrics.setDailySpend(() => runtime.budget().spent_today_usd);
  for (const breaker of runtime.topology.breakers) metrics.setBreakerState(breaker.key, runtime.breakers.state(breaker.key));
  return runtime.onFact((stated) => {
    if (stated.name === 'recordTaskStarted') metrics.taskStarted();
    else if (stated.name === 'recordTaskFinished') {
      const { result } = stated.fact;
      metrics.countTask(result.status);
      if (result.error?.code === 'PAS_ERR_BUDGET_EXHAUSTED') metrics.budgetRefused();
      if (result.provider && result.model && result.tokens) metrics.recordUsage(result.provider, result.model, result.tokens, result.costUsd ?? 0);
    } else if (stated.name === 'recordJobFinished') metrics.countJob(stated.fact.outcome.status);
  });
}

async function listen(app: FastifyInstance, host: string, port: number, owner: string): Promise<number> {
  try {
    await app.listen({ host, port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      throw new PasError('PAS_ERR_PORT_IN_USE', `port ${port} wanted by ${owner} is already in use (${code}); stop the other process or start with --port-offset N`, {
        details: { port, agent: owner },
        cause: err,
      });
    }
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL' || code === 'EINVAL') {
      // A host this machine does not have: a config (or --host) error, so the CLI exits 2.
      throw new PasError('PAS_ERR_CONFIG_INVALID', `pas.yaml: gateway.host (or --host): cannot listen on "${host}" (${code}); use an address of this machine, e.g. 127.0.0.1`, {
        details: { issues: [{ file: 'pas.yaml', path: 'gateway.host', message: `cannot listen on "${host}" (${code})` }], host },
        cause: err,
      });
    }
    throw err;
  }
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : port;
}

export async function startGateway(runtime: Runtime, options: GatewayOptions = {}): Promise<Gateway> {
  const host = options.host ?? runtime.config.pas.gateway.host;
  const token = options.token ?? (process.env.PAS_API_TOKEN || undefined);
  const metrics = createMetrics();
  // Values no answer may show: provider keys and the API token.
  registerSecretEnvNames(runtime.config.models);
  const secrets = token ? [token, ...secretValues()] : secretValues();
  const ws = runtime.config.pas.gateway.ws;
  const hub = new FeedHub({
    ringSize: ws.ring_size,
    maxBufferedBytes: ws.max_buffered_bytes,
    heartbeatMs: ws.heartbeat_s * 1000,
    tree: () => runtime.tree(),
    logger: runtime.logger.child({ component: 'feed' }),
  });
  const unsubscribe = [
    runtime.onTransition((record) => {
      const { seq: _seq, v: _v, type: _type, ...rest } = record;
      metrics.onTransition(hub.publish(rest));
    }),
    wireMetrics(runtime, metrics),
    runtime.progress.onProgress((entry) => hub.publishProgress(entry)),
    runtime.merges.onMerge((entry) => hub.publishMerge(entry)),
  ];

  const apps: FastifyInstance[] = [];
  const agentPorts = new Map<string, number>();
  const closers: Array<() => Promise<void>> = [];
  const connections = new ConnectionGuard(resolveMaxConnections(runtime.config.pas.gateway.limits.max_connections));
  metrics.setFeedStats(() => hub.stats());
  metrics.setConnectionStats(() => ({ open: connections.open, refused: connections.refused }));
  const close = async () => {
    for (const off of unsubscribe) off();
    await Promise.allSettled(closers.map((c) => c()));
    await hub.close();
    // Whatever is still open (an upgraded socket, a half-sent request) must not hold up the close.
    const closing = Promise.allSettled(apps.map((a) => a.close()));
    connections.destroyAll();
    await closing;
  };

  try {
    const gateway = buildApp(runtime, { token, metrics, label: '', host, secrets, connections });
    apps.push(gateway);
    registerApiRoutes(gateway, runtime, () => hub.stats().seq);
    registerLlmProxy(gateway, runtime, metrics);
    if (options.doctor) registerDoctorRoute(gateway, options.doctor);
    for (const agent of runtime.topology.agents) registerAgentRoutes(gateway, runtime, agent, `/agents/${agent.agentId}`);
    gateway.get('/metrics', async (_request, reply) => reply.header('content-type', metrics.contentType).send(await metrics.render()));
    gateway.get('/health', async () => ({ status: 'ok', agent: 'gateway', run_id: runtime.runId, agents: runtime.topology.agents.length, feed: hub.stats() }));
    serveHmi(gateway, options.hmiDir ?? DEFAULT_HMI_DIR);
    const allowedHosts = runtime.config.pas.gateway.allowed_hosts;
    guardUpgrades(gateway.server, host, allowedHosts);
    hub.attach(gateway.server, '/ws');
    const upgradePaths = ['/ws'];
    if (options.inspectorRelay) {
      upgradePaths.push(INSPECT_PATH);
      const relay = new InspectorRelay();
      relay.attach(gateway.server, INSPECT_PATH);
      closers.push(() => relay.close());
      const page = bridgePage(INSPECT_PATH, options.inspectorUiUrl ?? 'https://stately.ai/inspect');
      gateway.get(INSPECT_PATH, async (_request, reply) => reply.header('content-type', 'text/html; charset=utf-8').send(page));
    }
    answerStrayUpgrades(gateway.server, () => upgradePaths);
    const gatewayPort = options.port ?? runtime.topology.gatewayPort;
    const port = await listen(gateway, host, gatewayPort, 'the gateway');

    if (options.agentPorts !== false) {
      // Every listen settles before a failure is thrown, so close() finds no listen still under way.
      const started = await Promise.allSettled(
        runtime.topology.agents.map(async (agent: AgentInfo) => {
          const app = buildApp(runtime, { token, metrics, label: `agent:`, host, secrets, connections });
          apps.push(app);
          registerAgentRoutes(app, runtime, agent);
          answerStrayUpgrades(app.server, () => []);
          agentPorts.set(agent.agentId, await listen(app, host, agent.port, agent.agentId));
        }),
      );
      const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
    const shownHost = host.includes(':') ? `[${host}]` : host;
    return { url: `http://${shownHost}:${port}`, port, host, hub, metrics, app: gateway, agentPorts, close };
  } catch (err) {
    await close();
    throw err;
  }
}
