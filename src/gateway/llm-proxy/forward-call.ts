/**
 * One model call of a program PAS started, through the gateway: the caller's per-task credential
 * is checked, the budget asked before the call, the breaker of each model asked in turn (the
 * task's model, then its backup of the same family), a provider slot taken from the adaptive
 * limiter, and the request passed on byte for byte (only the model name changes on failover).
 * The answer streams back chunk by chunk as it arrives while its usage is read on the side; a
 * failure before the first byte of an answer moves on to the backup.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { PasError } from '../../errors.ts';
import { BREAKER_FAILURE_CODES } from '../../llm/llm-client.ts';
import { httpError, toProviderError, type CallSite } from '../../llm/provider-errors.ts';
import { headerReader } from '../../llm/lean-answer.ts';
import { record, resolveBaseUrl } from '../../llm/provider-http.ts';
import type { LlmGateway, ScriptedWire } from '../../llm/gateway/llm-gateway.ts';
import type { CallOutcome, Slot } from '../../llm/gateway/provider-limiter.ts';
import { readModelField, withModel, type ModelField } from '../../llm/gateway/request-fields.ts';
import { UsageTap } from '../../llm/gateway/usage-tap.ts';
import type { Refusal, WireProtocol } from '../../llm/gateway/wire-protocols.ts';
import { admitNow, admitThroughGate, endCall, type CallPass } from './call-admission.ts';
import { forwardedRequestHeaders, forwardedResponseHeaders, Hangup, postUpstream, readAll, upstreamTarget, UpstreamTimeout } from './upstream.ts';

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
 * Writes the answer on as it arrives. What arrived in one turn of the event loop leaves as one
 * write at the end of that turn (setImmediate), and the usage tap reads it in one go: a provider
 * that sends one tiny frame per token costs one write and one look per batch, not per frame, and
 * nothing waits longer than the current turn. Resolves true once the answer ended complete,
 * false when it broke off.
 */
function relay(upstream: IncomingMessage, res: ServerResponse, first: Buffer, tap: UsageTap): Promise<boolean> {
  return new Promise((resolve) => {
    let batch: Buffer[] = [];
    let scheduled = false;
    const resume = () => upstream.resume();
    const flush = () => {
      scheduled = false;
      if (batch.length === 0) return true;
      const bytes = batch.length === 1 ? batch[0]! : Buffer.concat(batch);
      batch = [];
      tap.feed(bytes);
      return res.write(bytes);
    };
    const flushLater = () => {
      if (!flush() && !upstream.readableEnded) {
        upstream.pause();
        res.once('drain', resume);
      }
    };
    const onData = (chunk: Buffer) => {
      batch.push(chunk);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flushLater);
      }
    };
    const finish = () => {
      // The rest and the end leave in one write (end() flushes the socket).
      flush();
      res.end();
      resolve(upstream.complete);
    };
    onData(first);
    // A short answer may have ended while its first chunk was being looked at.
    if (upstream.readableEnded) return finish();
    upstream.on('data', onData);
    upstream.once('end', finish);
    upstream.once('error', () => resolve(false));
    upstream.once('close', () => resolve(upstream.complete && upstream.readableEnded));
    upstream.resume();
  });
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

/** The caller's query minus its key (`?key=` is how some Gemini clients send theirs), encoded. */
function forwardedQuery(query: URLSearchParams): string {
  if (query.size === 0) return '';
  const kept = new URLSearchParams();
  for (const [k, v] of query) if (k !== 'key') kept.append(k, v);
  return kept.toString();
}

const THROTTLE_CODES = new Set(['PAS_ERR_LLM_RATE_LIMITED', 'PAS_ERR_LLM_OVERLOADED']);

interface HeldError {
  status: number;
  headers: ReturnType<typeof forwardedResponseHeaders>;
  body: Buffer;
}

/** The body parsed, for the scripted model (answered in process), or undefined when it is no JSON object. */
function parseBody(body: Buffer): Record<string, unknown> | undefined {
  try {
    return record(JSON.parse(body.toString('utf8')));
  } catch {
    return undefined;
  }
}

/** The first byte of the body opens a JSON object (Gemini names its model in the path). */
function opensObject(body: Buffer): boolean {
  for (const b of body) {
    if (b === 0x7b) return true;
    if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return false;
  }
  return false;
}

const NOT_AN_OBJECT = 'the request body is not a JSON object';

export async function forwardLlmCall(gw: LlmGateway, call: LlmCallRequest, res: ServerResponse, scripted?: ScriptedWire): Promise<void> {
  const { protocol } = call;
  const presented = presentedCredential(call.headers, call.query);
  const lookup = gw.credentials.lookup(presented);
  if (!lookup.ok) {
    const why = lookup.reason === 'missing' ? 'no API key was sent' : lookup.reason === 'expired' ? 'this PAS task credential has expired' : 'invalid API key (not a live PAS task credential)';
    return sendShaped(res, protocol, 'unauthorized', why);
  }
  const grant = lookup.grant;
  // Only the model is read from the body (the bytes go on untouched); Gemini names it in the path.
  let field: ModelField | undefined;
  if (call.pathModel === undefined) {
    field = readModelField(call.body);
    if (!field.ok) return sendShaped(res, protocol, 'bad_request', field.reason === 'not_object' ? NOT_AN_OBJECT : 'model: required');
  } else if (!opensObject(call.body)) return sendShaped(res, protocol, 'bad_request', NOT_AN_OBJECT);
  const requested = call.pathModel ?? (field?.ok ? field.model : '');
  const chain = gw.route(grant, protocol.kind, requested);
  if (chain.length === 0) {
    return sendShaped(res, protocol, 'model_not_allowed', `model ${requested}: task ${grant.taskId} has no ${protocol.kind} model (it may use ${grant.models.join(', ')})`);
  }

  // The caller hanging up stops the upstream call.
  const hangup = new Hangup();
  const onClose = () => {
    if (!res.writableFinished) hangup.fire(new Error('the caller closed the connection'));
  };
  res.once('close', onClose);

  const budgetRefusals: PasError[] = [];
  let held: HeldError | undefined;
  let lastFailure = '';
  const breakers = gw.options.breakers;
  /** The admitted call not yet ended: whatever way this function leaves, it is ended once. */
  let open: CallPass | undefined;
  const end = (how: 'success' | 'failure' | 'abandoned', detail?: Parameters<typeof endCall>[3]) => {
    const pass = open!;
    open = undefined;
    endCall(breakers, pass, how, detail);
  };
  try {
    for (const [index, model] of chain.entries()) {
      const usedBackup = model.ref !== grant.models[0];
      const refusal = gw.budgetRefusal(grant, model);
      if (refusal) {
        budgetRefusals.push(refusal);
        continue;
      }
      // A gate that asks elsewhere (a worker asking the cluster) is awaited; the in-process registry answers at once.
      const answer = breakers.admitCall ? await admitThroughGate(breakers.admitCall.bind(breakers), model.ref, grant, hangup) : (admitNow(breakers, model.ref) ?? new PasError('PAS_ERR_LLM_BREAKER_OPEN', `${model.ref}: circuit breaker is open`));
      if (answer === undefined) return;
      if (answer instanceof PasError) {
        if (answer.code === 'PAS_ERR_BUDGET_EXHAUSTED') budgetRefusals.push(answer);
        else lastFailure = answer.message;
        continue;
      }
      open = answer;
      // The admission was awaited: a task that ended meanwhile (its credential revoked) makes no call.
      if (answer.ticket && !gw.credentials.lookup(presented).ok) {
        end('abandoned');
        return sendShaped(res, protocol, 'unauthorized', 'this PAS task credential ended while the call waited for admission');
      }
      // Through a ticket the cost is reported with the call's end (the one place it is booked).
      const ticketBooks = answer.ticket !== undefined;
      const rename = model.model !== requested && field?.ok === true;

      if (model.kind === 'scripted') {
        const json = scripted ? parseBody(call.body) : undefined;
        if (!scripted || !json) {
          end('abandoned');
          if (!json && scripted) return sendShaped(res, protocol, 'bad_request', NOT_AN_OBJECT);
          lastFailure = `${model.ref}: no scripted wire server is mounted`;
          continue;
        }
        const stream = protocol.route === 'gemini-stream' || (protocol.route === 'ollama-chat' ? json.stream !== false : json.stream === true);
        const usage = await scripted({ protocol, model, body: rename ? { ...json, model: model.model } : json, grant, stream }, res);
        const used = usage ?? { input: null, output: null };
        end('success', { usage: used, costUsd: gw.recordCall(grant, model, used, usedBackup, ticketBooks) });
        return;
      }

      const body = rename && field?.ok ? withModel(call.body, field, model.model) : call.body;
      const site: CallSite = { provider: model.provider, kind: model.kind, model: model.model, env: gw.env };
      let slot: Slot | undefined = gw.limiter.tryAcquire(model.provider);
      if (!slot) {
        try {
          slot = await gw.limiter.acquire(model.provider, hangup.signal());
        } catch {
          end('abandoned');
          return;
        }
      }
      let upstream: IncomingMessage;
      const timeoutMs = Math.round(model.config.timeout_s * 1000);
      try {
        const base = resolveBaseUrl(model.kind, { name: model.provider, config: model.config, env: gw.env });
        const target = upstreamTarget(`${base}${protocol.upstreamPath(model.model)}`);
        const headers = forwardedRequestHeaders(call.headers);
        const keyEnv = model.config.api_key_env;
        const key = keyEnv ? gw.env[keyEnv] : undefined;
        if (key) Object.assign(headers, protocol.authHeaders(key));
        upstream = await postUpstream({ target, query: forwardedQuery(call.query), headers, body, headersTimeoutMs: timeoutMs, hangup });
      } catch (err) {
        slot.release('failed');
        if (hangup.happened) {
          end('abandoned');
          return;
        }
        const error =
          err instanceof UpstreamTimeout
            ? new PasError('PAS_ERR_LLM_TIMEOUT', `${model.ref}: no answer within ${timeoutMs} ms`, { details: { ref: model.ref, timeoutMs } })
            : toProviderError(err, site, timeoutMs, { aborted: false });
        end('failure', { error: error.toData() });
        gw.logger?.warn({ taskId: grant.taskId, ref: model.ref, code: error.code }, 'llm gateway: provider unreachable');
        lastFailure = error.message;
        continue;
      }

      if (upstream.statusCode === undefined || upstream.statusCode >= 400) {
        const status = upstream.statusCode ?? 502;
        const text = await readAll(upstream).catch(() => Buffer.alloc(0));
        const error = httpError(site, status, headerReader(upstream.headers), text.toString('utf8'), gw.now());
        const counts = BREAKER_FAILURE_CODES.has(error.code);
        end(counts ? 'failure' : 'success', counts ? { error: error.toData() } : {});
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
        if (hangup.happened) {
          end('abandoned');
          return;
        }
        end('failure', { error: error.toData() });
        lastFailure = error.message;
        continue;
      }
      // The answer is on its way: pass it through as it arrives, reading its usage on the side.
      const tap = new UsageTap(protocol, upstream.headers['content-type']);
      res.writeHead(upstream.statusCode, forwardedResponseHeaders(upstream));
      let complete = upstream.complete;
      if (first === null) res.end();
      else complete = await relay(upstream, res, first, tap);
      const result = tap.end();
      const usage = result.usage ?? { input: null, output: null };
      // What the answer used is priced even when it broke off; the breakers hear how it ended.
      const costUsd = gw.recordCall(grant, model, usage, usedBackup, ticketBooks);
      if (!complete) {
        res.destroy();
        const error = new PasError('PAS_ERR_LLM_STREAM', `${model.ref}: the answer broke off`);
        if (hangup.happened) end('abandoned', { usage, costUsd });
        else end('failure', { error: error.toData(), usage, costUsd });
        slot.release('failed');
      } else if (result.streamFailed) {
        const error = new PasError('PAS_ERR_LLM_STREAM', `${model.ref}: the provider sent an error in the stream`);
        end('failure', { error: error.toData(), usage, costUsd });
        slot.release('failed');
      } else {
        end('success', { usage, costUsd });
        slot.release('ok');
      }
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
    // A call that left by an error nobody caught still frees its probe.
    if (open) end('abandoned');
  }
}
