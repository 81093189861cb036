/**
 * Every error answer has one shape: `{"error": {"code", "message", "details"}}`. Fastify's own
 * errors (bad JSON, body too large, wrong content type) are mapped into it; nothing a client
 * sends produces a 500.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { ERRORS, PasError, isPasError, type ErrorCode } from '../errors.ts';
import { formatPath } from '../config/load-config.ts';

export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

export function errorBody(code: string, message: string, details: Record<string, unknown> = {}): ErrorBody {
  return { error: { code, message, details } };
}

/** Validates with zod; a failure becomes PAS_ERR_BAD_REQUEST naming the first bad field. */
export function parseOr400<S extends z.ZodType>(schema: S, value: unknown, where: 'body' | 'query' | 'params' = 'body'): z.infer<S> {
  const result = schema.safeParse(value ?? (where === 'body' ? undefined : {}));
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => {
    // An unknown key is named by the key itself, not by the object that holds it.
    const path = i.code === 'unrecognized_keys' && i.keys.length > 0 ? [...i.path, i.keys[0]!] : i.path;
    return { field: formatPath(path) || where, message: i.message };
  });
  const first = issues[0]!;
  throw new PasError('PAS_ERR_BAD_REQUEST', `${first.field}: ${first.message}`, { details: { field: first.field, where, issues } });
}

function fastifyCode(err: FastifyError): ErrorCode {
  if (err.statusCode === 413 || err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return 'PAS_ERR_PAYLOAD_TOO_LARGE';
  if (err.statusCode === 404) return 'PAS_ERR_NOT_FOUND';
  if (err.statusCode === 401) return 'PAS_ERR_UNAUTHORIZED';
  return 'PAS_ERR_BAD_REQUEST';
}

export function installErrorHandling(app: FastifyInstance, scrub: (text: string) => string): void {
  app.setErrorHandler((err: FastifyError | PasError | Error, request: FastifyRequest, reply: FastifyReply) => {
    if (isPasError(err)) {
      return reply.status(err.status).send(errorBody(err.code, scrub(err.message), JSON.parse(scrub(JSON.stringify(err.details)))));
    }
    const fe = err as FastifyError;
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      const code = fastifyCode(fe);
      return reply.status(ERRORS[code].status === 400 ? fe.statusCode : ERRORS[code].status).send(errorBody(code, scrub(fe.message), { fastify: fe.code ?? null }));
    }
    request.log.error({ err }, 'unhandled error');
    return reply.status(500).send(errorBody('PAS_ERR_INTERNAL', ERRORS.PAS_ERR_INTERNAL.doc));
  });
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(errorBody('PAS_ERR_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
  });
}
