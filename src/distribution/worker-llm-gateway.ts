/**
 * `pas worker`'s own LLM gateway (CONTRACT §9 on a worker host): a fastify server on a free
 * loopback port with only the provider-compatible `/llm/...` routes, behind the same `LlmGateway`
 * policy the central process uses. The agent CLIs and aider this worker starts get its base URL
 * and a per-task credential, never a key: the host's provider keys stay in this process, which
 * forwards each call with them. Every call passes the breakers and the spend store the worker
 * was built with (its `BreakerGate` and `SpendStore`: whatever decides breakers and budget for
 * this host; the cluster gate is asked per call and books the call's cost through its ticket),
 * the daily and the job's budget, and is measured for the task's receipt. Offline
 * (`--offline`) every call is answered by the scripted model in the caller's own wire format, as
 * `pas demo` does on the central host.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { PasConfig } from '../config/load-config.ts';
import { refuseOtherHosts } from '../gateway/host-check.ts';
import { installErrorHandling } from '../gateway/http-errors.ts';
import { drainRefusedBodies } from '../gateway/refused-body-drain.ts';
import { closeTimedOutSocketsSafely } from '../gateway/stall-safe-timeouts.ts';
import { mountLlmGateway } from '../gateway/llm-proxy/register-llm-proxy.ts';
import { LlmGateway, llmGatewayOptionsFrom } from '../llm/gateway/llm-gateway.ts';
import { mountScriptedWire } from '../llm/gateway/scripted-mount.ts';
import type { BreakerGate, ProviderAdapter, SpendStore } from '../llm/types.ts';
import { createScriptedWire } from '../llm/wire/scripted-wire.ts';
import { scrubText, secretValues } from '../redaction.ts';

export interface WorkerLlmGatewayOptions {
  config: PasConfig;
  /** The worker's breakers: the gateway asks and feeds them on every call. */
  breakers: BreakerGate;
  /** The worker's spend store: the daily budget is read from it; a priced call is booked in it unless the breakers' ticket reports its cost. */
  spend: SpendStore;
  logger: Logger;
  /** A job's own `max_job_spend_usd` (sent with its tasks), when it set one. */
  jobLimit?: (jobId: string) => number | undefined;
  /** Offline: every call is answered by this scripted model over the wire; no provider is called. */
  scripted?: ProviderAdapter;
  /** Where the host's keys and base-URL overrides are read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface WorkerLlmGateway {
  readonly gateway: LlmGateway;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  close(): Promise<void>;
}

const LOOPBACK = '127.0.0.1';

export async function startWorkerLlmGateway(options: WorkerLlmGatewayOptions): Promise<WorkerLlmGateway> {
  const { config, logger } = options;
  const gateway = new LlmGateway({
    ...llmGatewayOptionsFrom(config),
    breakers: options.breakers,
    spend: options.spend,
    ...(options.jobLimit ? { jobLimit: options.jobLimit } : {}),
    logger: logger.child({ component: 'llm-gateway' }),
    ...(options.env ? { env: options.env } : {}),
    ...(options.scripted ? { offline: true, scripted: mountScriptedWire(createScriptedWire(options.scripted)) } : {}),
  });
  const app: FastifyInstance = Fastify({ logger: false, forceCloseConnections: true });
  // Agent CLIs reuse kept-alive sockets: a stall of this process never closes one under a call.
  closeTimedOutSocketsSafely(app.server);
  const secrets = secretValues(options.env);
  installErrorHandling(app, (text) => scrubText(text, secrets));
  // A body over llm_body_limit_bytes gets its 413, not a reset, as on the central gateway.
  drainRefusedBodies(app);
  // Only this host's own programs call it: a request naming another host (DNS rebinding) is refused.
  refuseOtherHosts(app, LOOPBACK, (host) => `Host "${host}" is not this machine; the worker's LLM gateway answers only loopback requests`);
  mountLlmGateway(app, gateway, config.pas.gateway.llm_body_limit_bytes);
  try {
    await app.listen({ host: LOOPBACK, port: 0 });
  } catch (err) {
    gateway.stop();
    await app.close().catch(() => undefined);
    throw err;
  }
  const url = gateway.url!;
  logger.info({ url }, 'worker LLM gateway listening');
  let closed: Promise<void> | undefined;
  return {
    gateway,
    url,
    close() {
      closed ??= (async () => {
        await app.close();
        gateway.stop();
      })();
      return closed;
    },
  };
}
