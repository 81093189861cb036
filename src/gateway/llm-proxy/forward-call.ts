/**
 * One model call of a program PAS started, through the gateway: the caller's per-task credential
 * is checked, the budget asked before the call, the breaker of each model asked in turn (the
 * task's model, then its backup of the same family), a provider slot taken from the adaptive
 * limiter, and the request passed on byte for byte (only the model name changes on failover).
 * The answer streams back chunk by chunk as it arrives while its usage is read on the side; a
 * failure before the first byte of an answer moves on to the backup.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { finished } from 'node:stream/promises';
import { PasError } from '../../errors.ts';
import { BREAKER_FAILURE_CODES } from '../../llm/llm-client.ts';
import { httpError, toProviderError, type CallSite } from '../../llm/provider-errors.ts';
import { record, resolveBaseUrl } from '../../llm/provider-http.ts';
import type { LlmGateway, ScriptedWire } from '../../llm/gateway/llm-gateway.ts';
import type { CallOutcome } from '../../llm/gateway/provider-limiter.ts';
import { UsageTap } from '../../llm/gateway/usage-tap.ts';
import type { Refusal, WireProtocol } from '../../llm/gateway/wire-protocols.ts';
import { forwardedRequestHeaders, forwardedResponseHeaders, postUpstream, readAll, UpstreamTimeout } from './upstream.ts';

export interface LlmCallRequest {
  protocol: WireProtocol;
  /** Gemini names the model in the path. */
  pathModel?: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
}


/** The key the caller presented, wherever its SDK puts it. */
export function presentedCredential(headers: IncomingHttpHeaders, query: URLSearchParams): string | undefined {
  const header = (name: string) => {
    const v = headers[name];
    return typeof v === 'string' && v.trim() ? v.trim() : undefined;
  };
  const auth = header('authorization');
  const bearer = auth && /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim();
  return header('x-api-key') ?? (bearer || undefined) ?? header('x-goog-api-key') ?? (query.get('key') || undefined);
}

function sendShaped(res: ServerResponse, protocol: WireProtocol, refusal: Refusal, message: string): void {
  const shaped = protocol.error(refusal, message);
  const text = JSON.stringify(shaped.body);
  if (res.headersSent || res.destroyed) return;
  res.writeHead(shaped.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...shaped.headers });
  res.end(text);
}

/**
 * Writes the answer on as it arrives. Chunks read in the same turn of the event loop leave in one
 * write (corked until setImmediate): a provider that sends one tiny frame per token costs one
 * syscall per batch, not per frame, and nothing waits longer than the current turn.
 */
function relay(upstream: IncomingMessage, res: ServerResponse, first: Buffer, onChunk: (chunk: Buffer) => void): void {
  let corked = false;
  const uncork = () => {
    corked = false;
    res.uncork();
  };
  const write = (chunk: Buffer) => {
    onChunk(chunk);
    if (!corked) {
      corked = true;
      res.cork();
      setImmediate(uncork);
    }
    if (!res.write(chunk)) {
      upstream.pause();
      res.once('drain', () => upstream.resume());
    }
  };
  const finish = () => {
    if (corked) uncork();
    res.end();
  };
  write(first);
  // A short answer may have ended while its first chunk was being looked at.
  if (upstream.readableEnded) return finish();
  upstream.on('data', write);
  upstream.once('end', finish);
  upstream.resume();
}

/** The first chunk of an answer's body, null when it ends empty, or the error that cut it off. */
function firstChunk(upstream: IncomingMessage): Promise<Buffer | null | Error> {
  return new Promise((resolve) => {
    const done = (value: Buffer | null | Error) => {
      upstream.off('data', onData);
      upstream.off('end', onEnd);
      upstream.off('error', onError);
      upstream.off('close', onClose);
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      upstream.pause();
      done(chunk);
    };
    const onEnd = () => done(null);
    const onError = (err: Error) => done(err);
    const onClose = () => done(upstream.complete ? null : new Error('the provider closed the connection'));
    upstream.on('data', onData);
    upstream.once('end', onEnd);
    upstream.once('error', onError);
    upstream.once('close', onClose);
  });
}

const THROTTLE_CODES = new Set(['PAS_ERR_LLM_RATE_LIMITED', 'PAS_ERR_LLM_OVERLOADED']);

interface HeldError {
  status: number;
  headers: ReturnType<typeof forwardedResponseHeaders>;
  body: Buffer;
}

export async function forwardLlmCall(gw: LlmGateway, call: LlmCallRequest, res: ServerResponse, scripted?: ScriptedWire): Promise<void> {
  const { protocol } = call;
  const lookup = gw.credentials.lookup(presentedCredential(call.headers, call.query));
  if (!lookup.ok) {
    const why = lookup.reason === 'missing' ? 'no API key was sent' : lookup.reason === 'expired' ? 'this PAS task credential has expired' : 'invalid API key (not a live PAS task credential)';
    return sendShaped(res, protocol, 'unauthorized', why);
  }
  const grant = lookup.grant;
  let json: Record<string, unknown> | undefined;
  try {
    json = record(JSON.parse(call.body.toString('utf8')));
  } catch {
    json = undefined;
  }
  if (!json) return sendShaped(res, protocol, 'bad_request', 'the request body is not a JSON object');
  const requested = call.pathModel ?? (typeof json.model === 'string' ? json.model : undefined);
  if (!requested) return sendShaped(res, protocol, 'bad_request', 'model: required');
  const chain = gw.route(grant, protocol.kind, requested);
  if (chain.length === 0) {
    return sendShaped(res, protocol, 'model_not_allowed', `model ${requested}: task ${grant.taskId} has no ${protocol.kind} model (it may use ${grant.models.join(', ')})`);
  }

  // The caller hanging up stops the upstream call.
  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) controller.abort(new Error('the caller closed the connection'));
  };
  res.once('close', onClose);

  const budgetRefusals: PasError[] = [];
  let held: HeldError | undefined;
  let lastFailure = '';
  try {
    for (const [index, model] of chain.entries()) {
      const usedBackup = model.ref !== grant.models[0];
      const refusal = gw.budgetRefusal(grant, model);
      if (refusal) {
        budgetRefusals.push(refusal);
        continue;
      }
      const admission = gw.options.breakers.admit(model.ref);
      if (admission === 'reject') {
        lastFailure = `${model.ref}: circuit breaker is open`;
        continue;
      }
      const probe = admission === 'probe';
      const rename = model.model !== requested && call.pathModel === undefined;
      const body = rename ? Buffer.from(JSON.stringify({ ...json, model: model.model })) : call.body;

      if (model.kind === 'scripted') {
        if (!scripted) {
          gw.options.breakers.abandonProbe(model.ref);
          lastFailure = `${model.ref}: no scripted wire server is mounted`;
          continue;
        }
        const stream = protocol.route === 'gemini-stream' || (protocol.route === 'ollama-chat' ? json.stream !== false : json.stream === true);
        const usage = await scripted({ protocol, model, body: rename ? { ...json, model: model.model } : json, grant, stream }, res);
        gw.options.breakers.record(model.ref, 'success', probe);
        gw.recordCall(grant, model, usage ?? { input: null, output: null }, usedBackup);
        return;
      }

      const site: CallSite = { provider: model.provider, kind: model.kind, model: model.model, env: gw.env };
      let slot;
      try {
        slot = await gw.limiter.acquire(model.provider, controller.signal);
      } catch {
        if (probe) gw.options.breakers.abandonProbe(model.ref);
        return;
      }
      let upstream: IncomingMessage;
      const timeoutMs = Math.round(model.config.timeout_s * 1000);
      try {
        const base = resolveBaseUrl(model.kind, { name: model.provider, config: model.config, env: gw.env });
        const url = new URL(`${base}${protocol.upstreamPath(model.model)}`);
        for (const [k, v] of call.query) if (k !== 'key') url.searchParams.append(k, v);
        const headers = forwardedRequestHeaders(call.headers);
        const keyEnv = model.config.api_key_env;
        const key = keyEnv ? gw.env[keyEnv] : undefined;
        if (key) Object.assign(headers, protocol.authHeaders(key));
        upstream = await postUpstream({ url, headers, body, headersTimeoutMs: timeoutMs, signal: controller.signal });
      } catch (err) {
        slot.release('failed');
        if (controller.signal.aborted) {
          if (probe) gw.options.breakers.abandonProbe(model.ref);
          return;
        }
        const error =
          err instanceof UpstreamTimeout
            ? new PasError('PAS_ERR_LLM_TIMEOUT', `${model.ref}: no answer within ${timeoutMs} ms`, { details: { ref: model.ref, timeoutMs } })
            : toProviderError(err, site, timeoutMs, new AbortController().signal);
        gw.options.breakers.record(model.ref, 'failure', probe, error.toData());
        gw.logger?.warn({ taskId: grant.taskId, ref: model.ref, code: error.code }, 'llm gateway: provider unreachable');
        lastFailure = error.message;
        continue;
      }

      if (upstream.statusCode === undefined || upstream.statusCode >= 400) {
        const status = upstream.statusCode ?? 502;
        const text = await readAll(upstream).catch(() => Buffer.alloc(0));
        const headers = new Headers();
        for (const [k, v] of Object.entries(upstream.headers)) if (typeof v === 'string') headers.set(k, v);
        const error = httpError(site, status, headers, text.toString('utf8'), gw.now());
        const counts = BREAKER_FAILURE_CODES.has(error.code);
        gw.options.breakers.record(model.ref, counts ? 'failure' : 'success', probe, counts ? error.toData() : undefined);
        const retryAfterMs = typeof error.details.retryAfterMs === 'number' ? error.details.retryAfterMs : undefined;
        const outcome: CallOutcome = THROTTLE_CODES.has(error.code) || status === 529 ? 'throttled' : 'failed';
        slot.release(outcome, retryAfterMs);
        held = { status, headers: forwardedResponseHeaders(upstream), body: text };
        gw.logger?.warn({ taskId: grant.taskId, ref: model.ref, status, code: error.code, next: chain[index + 1]?.ref ?? null }, 'llm gateway: provider refused the call');
        if (error.retryable && index + 1 < chain.length) continue;
        // Nothing left to try: the caller gets the provider's own answer.
        break;
      }

      // Nothing is sent to the caller before the answer's first byte: an answer that breaks off
      // before it still moves on to the backup.
      const first = await firstChunk(upstream);
      if (first instanceof Error) {
        const error = new PasError('PAS_ERR_LLM_CONNECTION', `${model.ref}: the answer broke off before its first byte`, { details: { ref: model.ref } });
        slot.release('failed');
        if (controller.signal.aborted) {
          if (probe) gw.options.breakers.abandonProbe(model.ref);
          return;
        }
        gw.options.breakers.record(model.ref, 'failure', probe, error.toData());
        lastFailure = error.message;
        continue;
      }
      // The answer is on its way: pass it through as it arrives, reading its usage on the side.
      const tap = new UsageTap(protocol, upstream.headers['content-type']);
      res.writeHead(upstream.statusCode, forwardedResponseHeaders(upstream));
      if (first === null) res.end();
      else relay(upstream, res, first, (chunk) => tap.feed(chunk));
      let broken = false;
      try {
        await finished(upstream);
      } catch {
        broken = true;
      }
      const result = tap.end();
      if (broken || !upstream.complete) {
        res.destroy();
        const error = new PasError('PAS_ERR_LLM_STREAM', `${model.ref}: the answer broke off`);
        if (controller.signal.aborted) {
          if (probe) gw.options.breakers.abandonProbe(model.ref);
        } else gw.options.breakers.record(model.ref, 'failure', probe, error.toData());
        slot.release('failed');
      } else if (result.streamFailed) {
        const error = new PasError('PAS_ERR_LLM_STREAM', `${model.ref}: the provider sent an error in the stream`);
        gw.options.breakers.record(model.ref, 'failure', probe, error.toData());
        slot.release('failed');
      } else {
        gw.options.breakers.record(model.ref, 'success', probe);
        slot.release('ok');
      }
      gw.recordCall(grant, model, result.usage ?? { input: null, output: null }, usedBackup);
      return;
    }

    if (held) {
      res.writeHead(held.status, held.headers);
      res.end(held.body);
      return;
    }
    if (budgetRefusals.length > 0 && !lastFailure) {
      const first = budgetRefusals[0]!;
      gw.noteRefusal(grant, first);
      gw.logger?.info({ jobId: grant.jobId, taskId: grant.taskId, agentId: grant.programmerId, details: first.details }, 'llm gateway: call refused, budget spent');
      return sendShaped(res, protocol, 'budget', `PAS_ERR_BUDGET_EXHAUSTED: ${first.message}`);
    }
    return sendShaped(res, protocol, 'unavailable', `no model available for this task right now (${lastFailure || 'every model refused'})`);
  } finally {
    res.off('close', onClose);
  }
}
