/** What a promise that must reject rejected with: an RpmemError (asserted), or its code. */
import { expect } from 'chai';
import { ErrorCode, RpmemError } from '../../src/storage/errors';

/** The RpmemError `work` rejects with; fails the test if it resolves or rejects with anything else. */
export async function rejection(work: Promise<unknown>): Promise<RpmemError> {
  try {
    await work;
  } catch (err) {
    expect(err).to.be.instanceOf(RpmemError);
    return err as RpmemError;
  }
  throw new Error('expected a rejection');
}

/** The code of the RpmemError `work` rejects with. */
export async function code(work: Promise<unknown>): Promise<ErrorCode> {
  return (await rejection(work)).code;
}

/** The gRPC status an RpmemError of a call arrived as: that of the ServiceError it was converted from. */
export function wireStatus(err: RpmemError): number | undefined {
  return (err.cause as { code?: number } | undefined)?.code;
}
