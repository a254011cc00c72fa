/**
 * Version negotiation: every request that starts a conversation states the client's protocol
 * version, and the target refuses any it does not speak.
 */
import { RpmemError, ErrorCode } from '../storage/errors';
import { PROTOCOL_VERSION } from '../wire/protocol';

/** Throws RPMEM_E_PROTOCOL unless `version` is one this target speaks. */
export function checkProtocol(version: number): void {
  if (version !== PROTOCOL_VERSION) {
    const stated = version === 0 ? 'no protocol version' : `protocol version ${version}`;
    throw new RpmemError(ErrorCode.PROTOCOL, `client stated ${stated}; this target speaks protocol version ${PROTOCOL_VERSION} only`);
  }
}
