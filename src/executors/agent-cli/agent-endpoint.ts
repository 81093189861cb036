/**
 * Where an agent CLI sends its model calls and with which key: the one place that decides it
 * for every CLI run (the LLM gateway of CONTRACT §9 will swap the real key for a per-task
 * credential and the provider's URL for PAS's own here). The key only ever goes into the
 * child's environment or its private config, never into argv, logs, receipts or the feed.
 */
import { splitModelRef } from '../../config/load-config.ts';
import type { ModelsConfigFile } from '../../config/schemas.ts';
import { PasError } from '../../errors.ts';
import { providerKindOf } from '../../llm/create-adapter.ts';
import { resolveBaseUrl } from '../../llm/provider-http.ts';
import type { AgentEndpoint } from './agent-cli-spec.ts';

export function resolveAgentEndpoint(models: ModelsConfigFile, ref: string, env: NodeJS.ProcessEnv): AgentEndpoint {
  const { provider, model } = splitModelRef(ref);
  const config = models.providers[provider];
  if (!config || !config.models[model]) {
    throw new PasError('PAS_ERR_LLM_UNKNOWN_MODEL', `model "${ref}" is not in models.yaml`, { details: { ref } });
  }
  const kind = providerKindOf(provider, config);
  if (kind === 'scripted') {
    throw new PasError('PAS_ERR_LLM_UNKNOWN_MODEL', `${ref}: an agent CLI cannot run the offline scripted model`, { details: { ref } });
  }
  const baseUrl = resolveBaseUrl(kind, { name: provider, config, env });
  const keyName = config.api_key_env;
  const apiKey = keyName ? env[keyName] || undefined : undefined;
  if (keyName && !apiKey) {
    throw new PasError('PAS_ERR_LLM_AUTH', `${ref}: ${keyName} is not set`, { details: { provider, model, env: keyName } });
  }
  return { baseUrl, apiKey, kind, provider, model, price: config.models[model]! };
}
