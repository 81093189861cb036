/**
 * Mounts the LLM gateway on a fastify app: the provider-compatible routes, the gateway's own
 * origin (so executors can point programs at it once it listens), and on the central gateway
 * the per-provider concurrency gauges on /metrics.
 */
import type { FastifyInstance } from 'fastify';
import { Gauge } from 'prom-client';
import type { LlmGateway } from '../../llm/gateway/llm-gateway.ts';
import type { ProviderLimitView } from '../../llm/gateway/provider-limiter.ts';
import type { Runtime } from '../../runtime/create-runtime.ts';
import type { Metrics } from '../metrics.ts';
import { registerLlmProxyRoutes } from './llm-proxy-routes.ts';

export function registerLlmProxy(app: FastifyInstance, runtime: Runtime, metrics: Metrics): void {
  const gateway = runtime.llmGateway;
  if (!gateway) return;
  mountLlmGateway(app, gateway, runtime.config.pas.gateway.llm_body_limit_bytes);

  const gauge = (name: string, help: string, read: (v: ProviderLimitView) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['provider'] as const,
      registers: [metrics.registry],
      collect() {
        this.reset();
        for (const view of gateway.limiter.view()) this.set({ provider: view.provider }, read(view));
      },
    });
  gauge('pas_llm_provider_concurrency_limit', 'The adaptive limit on LLM calls in flight per provider (AIMD).', (v) => v.limit);
  gauge('pas_llm_provider_in_flight', 'LLM gateway calls in flight per provider.', (v) => v.in_flight);
  gauge('pas_llm_provider_waiting', 'LLM gateway calls waiting for a provider slot.', (v) => v.waiting);
  gauge('pas_llm_provider_saturated', '1 while a provider is saturated (calls waiting or a retry-after pause).', (v) => (v.saturated ? 1 : 0));
}

/**
 * The gateway's routes on `app`, and the gateway's origin set while `app` listens (executors can
 * open tasks only then). Shared by the central gateway and `pas worker`'s loopback one.
 */
export function mountLlmGateway(app: FastifyInstance, gateway: LlmGateway, bodyLimitBytes: number): void {
  registerLlmProxyRoutes(app, { gateway, bodyLimitBytes, ...(gateway.options.scripted ? { scripted: gateway.options.scripted } : {}) });
  app.addHook('onListen', async () => {
    const address = app.server.address();
    if (!address || typeof address !== 'object') return;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    gateway.setOrigin(`http://${host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host}:${address.port}`);
  });
  app.addHook('onClose', async () => gateway.setOrigin(undefined));
}
