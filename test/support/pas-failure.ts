import { isPasError, type PasError } from '../../src/errors.ts';

/** The coded error a promise rejects with; anything else (or no rejection) fails the test. */
export async function failure(promise: Promise<unknown>): Promise<PasError> {
  try {
    await promise;
  } catch (err) {
    if (isPasError(err)) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}
