/**
 * Where an agent CLI sends its model calls and with which key: the one place that decides it
 * for every CLI run. Behind PAS's LLM gateway (CONTRACT §9, every run PAS starts in a tree) the
 * CLI gets the gateway's `/llm/...` base URL of its provider family and the task's credential;
 * the real key stays in PAS. Without a gateway (an executor built on its own, e.g. in a unit
 * test) it gets the provider's own base URL and key. Either way the key only ever goes into
 * the child's environment or its private config, never into argv, logs, receipts or the feed.
 */
import { splitModelRef } from '../../config/load-config.ts';
import type { ModelsConfigFile } from '../../config/schemas.ts';
import { PasError } from '../../errors.ts';
import { providerKindOf } from '../../llm/create-adapter.ts';
import type { TaskLlmAccess } from '../../llm/gateway/llm-gateway.ts';
import type { WireKind } from '../../llm/gateway/wire-protocols.ts';
import { resolveBaseUrl } from '../../llm/provider-http.ts';
import type { ProtocolKind } from '../../llm/provider-errors.ts';
import type { AgentEndpoint } from './agent-cli-spec.ts';

function lookup(models: ModelsConfigFile, ref: string) {
  const { provider, model } = splitModelRef(ref);
  const config = models.providers[provider];
  if (!config || !config.models[model]) {
    throw new PasError('PAS_ERR_LLM_UNKNOWN_MODEL', `model "${ref}" is not in models.yaml`, { details: { ref } });
  }
  return { provider, model, config, kind: providerKindOf(provider, config) };
}

/** The provider's own base URL and key (no gateway wired). */
export function resolveAgentEndpoint(models: ModelsConfigFile, ref: string, env: NodeJS.ProcessEnv): AgentEndpoint {
  const { provider, model, config, kind } = lookup(models, ref);
  if (kind === 'scripted') {
    throw new PasError('PAS_ERR_LLM_UNKNOWN_MODEL', `${ref}: an agent CLI reaches the offline scripted model only through PAS's LLM gateway`, { details: { ref } });
  }
  const baseUrl = resolveBaseUrl(kind, { name: provider, config, env });
  const keyName = config.api_key_env;
  const apiKey = keyName ? env[keyName] || undefined : undefined;
  if (keyName && !apiKey) {
    throw new PasError('PAS_ERR_LLM_AUTH', `${ref}: ${keyName} is not set`, { details: { provider, model, env: keyName } });
  }
  return { baseUrl, apiKey, kind, provider, model, price: config.models[model]! };
}

/**
 * The gateway's endpoint for one task: PAS's base URL of the model's provider family and the
 * task's credential. A `scripted` model (the offline demo) is served in the first wire format
 * the CLI speaks (`cliKinds`). A paid provider whose key PAS does not have fails here, before
 * the CLI starts (offline, nothing is called upstream and no key is needed).
 */
export function gatewayAgentEndpoint(
  models: ModelsConfigFile,
  ref: string,
  access: Pick<TaskLlmAccess, 'baseUrl' | 'credential'>,
  options: { cliKinds: readonly ProtocolKind[]; env: NodeJS.ProcessEnv; offline: boolean },
): AgentEndpoint {
  const { provider, model, config, kind } = lookup(models, ref);
  const wire = (kind === 'scripted' ? options.cliKinds[0] : kind) as WireKind | 'scripted' | undefined;
  if (!wire || wire === 'scripted') {
    throw new PasError('PAS_ERR_LLM_UNKNOWN_MODEL', `${ref}: no wire format to serve it in`, { details: { ref } });
  }
  if (!options.cliKinds.includes(wire)) {
    throw new PasError('PAS_ERR_LLM_UNKNOWN_MODEL', `${ref}: the CLI speaks ${options.cliKinds.join(', ')}, not ${wire}`, { details: { ref } });
  }
  const keyName = config.api_key_env;
  if (!options.offline && kind !== 'scripted' && keyName && !options.env[keyName]) {
    throw new PasError('PAS_ERR_LLM_AUTH', `${ref}: ${keyName} is not set`, { details: { provider, model, env: keyName } });
  }
  return { baseUrl: access.baseUrl(wire), apiKey: access.credential, kind: wire, provider, model, price: config.models[model]! };
}
