/**
 * Run as a script (`node --import tsx test/support/lean-https-call.ts <base url>`, with
 * NODE_EXTRA_CA_CERTS naming the test certificate): one plain and one streamed OpenAI call on the
 * lean path over TLS, their replies (or the error code) printed as one JSON line.
 */
import { providerSchema } from '../../src/config/schemas.ts';
import { createProviderAdapter } from '../../src/llm/create-adapter.ts';
import { PasError } from '../../src/errors.ts';

const base = process.argv[2]!;
const config = providerSchema.parse({ base_url: base, timeout_s: 10, models: { 'gpt-4o': { input_per_mtok: 1, output_per_mtok: 2 } } });
const adapter = createProviderAdapter('openai', config, { env: {} });
const messages = [{ role: 'user' as const, content: 'Say hello.' }];
try {
  const plain = await adapter.chat('gpt-4o', { messages });
  const streamed = await adapter.chat('gpt-4o', { messages, stream: true });
  console.log(JSON.stringify({ plain: plain.text, streamed: streamed.text }));
} catch (err) {
  console.log(JSON.stringify({ code: err instanceof PasError ? err.code : String(err), message: (err as Error).message }));
}
