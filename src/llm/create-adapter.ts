/**
 * Picks the wire protocol for a models.yaml provider entry: its `kind`, defaulting to its name.
 */
import path from 'node:path';
import { PasError } from '../errors.ts';
import type { ModelsConfigFile, ProviderConfig } from '../config/schemas.ts';
import type { ProtocolKind } from './provider-errors.ts';
import type { FetchLike } from './provider-http.ts';
import { createAnthropicAdapter } from './providers/anthropic-adapter.ts';
import { createGeminiAdapter } from './providers/gemini-adapter.ts';
import { createOllamaAdapter } from './providers/ollama-adapter.ts';
import { createOpenAiAdapter } from './providers/openai-adapter.ts';
import { createCassetteAdapter } from './providers/scripted-adapter.ts';
import type { ProviderAdapter } from './types.ts';

export interface CreateAdapterOptions {
  env?: NodeJS.ProcessEnv;
  fetch?: FetchLike;
  now?: () => number;
  /** The configs folder; a scripted provider's `cassette` is relative to it. */
  configDir?: string;
}

const KINDS: readonly ProtocolKind[] = ['ollama', 'openai', 'anthropic', 'google', 'scripted'];

export function providerKindOf(name: string, config: ProviderConfig): ProtocolKind {
  const kind = config.kind ?? name;
  if (!(KINDS as readonly string[]).includes(kind)) {
    throw new PasError('PAS_ERR_CONFIG_INVALID', `models.yaml: providers.${name}.kind: provider "${name}" needs a kind (${KINDS.join(', ')})`);
  }
  return kind as ProtocolKind;
}

export function createProviderAdapter(name: string, config: ProviderConfig, options: CreateAdapterOptions = {}): ProviderAdapter {
  const kind = providerKindOf(name, config);
  const opts = { name, config, ...options };
  switch (kind) {
    case 'ollama':
      return createOllamaAdapter(opts);
    case 'openai':
      return createOpenAiAdapter(opts);
    case 'anthropic':
      return createAnthropicAdapter(opts);
    case 'google':
      return createGeminiAdapter(opts);
    case 'scripted': {
      if (!config.cassette) {
        throw new PasError('PAS_ERR_CONFIG_INVALID', `models.yaml: providers.${name}.cassette: required for a scripted provider`);
      }
      return createCassetteAdapter(path.resolve(options.configDir ?? 'configs', config.cassette), { provider: name });
    }
  }
}

/** Adapters for every provider of models.yaml, built on first use (a missing cassette only fails when called). */
export function lazyAdapters(models: ModelsConfigFile, options: CreateAdapterOptions = {}): (provider: string) => ProviderAdapter | undefined {
  const built = new Map<string, ProviderAdapter>();
  return (provider) => {
    const existing = built.get(provider);
    if (existing) return existing;
    const config = models.providers[provider];
    if (!config) return undefined;
    const adapter = createProviderAdapter(provider, config, options);
    built.set(provider, adapter);
    return adapter;
  };
}
