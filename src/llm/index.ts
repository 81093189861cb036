/** The LLM layer's public surface (the runtime imports from here). */
export type * from './types.ts';
export { createLlmClient, llmClientOptionsFrom, breakerSettingsFrom, emptyUsage, BREAKER_FAILURE_CODES, DEFAULT_MAX_RETRY_WAIT_MS, type LlmClientOptions } from './llm-client.ts';
export { createProviderAdapter, lazyAdapters, providerKindOf, type CreateAdapterOptions } from './create-adapter.ts';
export { createOllamaAdapter } from './providers/ollama-adapter.ts';
export { createOpenAiAdapter } from './providers/openai-adapter.ts';
export { createAnthropicAdapter } from './providers/anthropic-adapter.ts';
export { createGeminiAdapter } from './providers/gemini-adapter.ts';
export {
  ScriptedAdapter,
  createScriptedAdapter,
  createCassetteAdapter,
  loadCassette,
  type CassetteEntry,
  type ScriptedAdapterOptions,
} from './providers/scripted-adapter.ts';
export { callCost, billableTokens, priceIsFree, roundUsd } from './prices.ts';
export { createMemorySpendStore, utcDay, type MemorySpendStore } from './spend-store.ts';
export { ReceiptWriter } from './receipt-writer.ts';
export { redactSecrets, redactValue, registerSecretEnvNames, redactingLoggerOptions, REDACT_PATHS, REDACTED } from '../redaction.ts';
export { parseRetryAfter, classifyHttpStatus, type ProtocolKind } from './provider-errors.ts';
export { normalizeOllamaHost, resolveBaseUrl, type AdapterOptions, type FetchLike } from './provider-http.ts';
