import { describe, expect, it } from 'vitest';
import { redactSecrets, registerSecretEnvNames } from '../../../src/llm/redact.ts';

describe('redactSecrets', () => {
  it('replaces the values of *_API_KEY and *_TOKEN variables of 8+ characters', () => {
    const env = { OPENAI_API_KEY: 'sk-abcdefgh12345', PAS_API_TOKEN: 'tok-98765432', SHORT_TOKEN: 'abc', HOME: '/home/me' };
    const out = redactSecrets('key sk-abcdefgh12345 token tok-98765432 short abc home /home/me', env);
    expect(out).toBe('key [REDACTED] token [REDACTED] short abc home /home/me');
  });

  it('replaces the value of every api_key_env named in models.yaml whatever its name', () => {
    registerSecretEnvNames(['MY_PROVIDER_SECRET']);
    expect(redactSecrets('x=s3cr3t!', { MY_PROVIDER_SECRET: 's3cr3t!' })).toBe('x=[REDACTED]');
  });

  it('replaces every occurrence, longest secret first', () => {
    const env = { A_API_KEY: 'abcdefgh', B_API_KEY: 'abcdefgh-longer' };
    expect(redactSecrets('abcdefgh-longer abcdefgh abcdefgh', env)).toBe('[REDACTED] [REDACTED] [REDACTED]');
  });
});
