import { describe, expect, it } from 'vitest';
import { classifyHttpStatus, parseErrorBody, parseRetryAfter } from '../../../src/llm/provider-errors.ts';
import { normalizeOllamaHost } from '../../../src/llm/provider-http.ts';

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-03-01T12:00:00Z');

  it('reads delta-seconds, including fractions', () => {
    expect(parseRetryAfter(new Headers({ 'retry-after': '7' }), now)).toBe(7000);
    expect(parseRetryAfter(new Headers({ 'retry-after': '0.5' }), now)).toBe(500);
  });

  it('reads an HTTP-date relative to now and never goes negative', () => {
    expect(parseRetryAfter(new Headers({ 'retry-after': 'Sat, 01 Mar 2025 12:00:30 GMT' }), now)).toBe(30_000);
    expect(parseRetryAfter(new Headers({ 'retry-after': 'Sat, 01 Mar 2025 11:00:00 GMT' }), now)).toBe(0);
  });

  it('prefers retry-after-ms and ignores garbage', () => {
    expect(parseRetryAfter(new Headers({ 'retry-after-ms': '1500', 'retry-after': '9' }), now)).toBe(1500);
    expect(parseRetryAfter(new Headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(parseRetryAfter(new Headers(), now)).toBeUndefined();
  });
});

describe('classifyHttpStatus', () => {
  it('tells a Gemini per-minute limit (RetryInfo) from an exhausted daily quota', () => {
    const perMinute = parseErrorBody(
      'google',
      JSON.stringify({
        error: {
          code: 429,
          status: 'RESOURCE_EXHAUSTED',
          message: 'You exceeded your current quota, please check your plan and billing details.',
          details: [
            { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier' }] },
            { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '26s' },
          ],
        },
      }),
    );
    expect(perMinute.retryDelayMs).toBe(26_000);
    expect(classifyHttpStatus('google', 429, perMinute)).toBe('PAS_ERR_LLM_RATE_LIMITED');
    const perDay = parseErrorBody(
      'google',
      JSON.stringify({ error: { code: 429, status: 'RESOURCE_EXHAUSTED', message: 'quota', details: [{ '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaId: 'GenerateRequestsPerDayPerProjectPerModel-FreeTier' }] }] } }),
    );
    expect(classifyHttpStatus('google', 429, perDay)).toBe('PAS_ERR_LLM_QUOTA');
    const plain = parseErrorBody('google', JSON.stringify([{ error: { code: 429, message: 'Resource has been exhausted (e.g. check quota).', status: 'RESOURCE_EXHAUSTED' } }]));
    expect(classifyHttpStatus('google', 429, plain)).toBe('PAS_ERR_LLM_RATE_LIMITED');
  });

  it('treats an Anthropic spend-limit 429 and a 402 as exhausted quota', () => {
    const spend = parseErrorBody('anthropic', JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'spend limit reached', details: { error_code: 'enforced_spend_limit_reached' } } }));
    expect(classifyHttpStatus('anthropic', 429, spend)).toBe('PAS_ERR_LLM_QUOTA');
    const billing = parseErrorBody('anthropic', JSON.stringify({ type: 'error', error: { type: 'billing_error', message: 'Payment required' } }));
    expect(classifyHttpStatus('anthropic', 402, billing)).toBe('PAS_ERR_LLM_QUOTA');
  });

  it('maps 529 and 503 to overloaded, 504 to timeout, other 5xx to server, other 4xx to bad request', () => {
    const body = { message: 'x' };
    expect(classifyHttpStatus('anthropic', 529, body)).toBe('PAS_ERR_LLM_OVERLOADED');
    expect(classifyHttpStatus('openai', 503, body)).toBe('PAS_ERR_LLM_OVERLOADED');
    expect(classifyHttpStatus('google', 504, body)).toBe('PAS_ERR_LLM_TIMEOUT');
    expect(classifyHttpStatus('ollama', 502, body)).toBe('PAS_ERR_LLM_SERVER');
    expect(classifyHttpStatus('openai', 422, body)).toBe('PAS_ERR_LLM_BAD_REQUEST');
    expect(classifyHttpStatus('openai', 403, body)).toBe('PAS_ERR_LLM_AUTH');
    expect(classifyHttpStatus('anthropic', 413, { message: 'Request exceeds the maximum size', type: 'request_too_large' })).toBe('PAS_ERR_LLM_CONTEXT_LENGTH');
  });

  it('keeps a non-JSON error body as the message', () => {
    expect(parseErrorBody('openai', '<html>502 Bad Gateway</html>').message).toBe('<html>502 Bad Gateway</html>');
  });
});

describe('normalizeOllamaHost', () => {
  it('adds the scheme and default port Ollama itself assumes', () => {
    expect(normalizeOllamaHost('0.0.0.0')).toBe('http://0.0.0.0:11434');
    expect(normalizeOllamaHost('gpu-box:8080')).toBe('http://gpu-box:8080');
    expect(normalizeOllamaHost('https://ollama.example.com/')).toBe('https://ollama.example.com');
    expect(normalizeOllamaHost('http://127.0.0.1:11434')).toBe('http://127.0.0.1:11434');
  });
});
