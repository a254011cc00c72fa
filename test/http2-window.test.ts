/**
 * rpmemd's HTTP/2 receive window (src/target/http2-window.ts): every connection starts at the
 * bound against unauthenticated floods, and only a connection that carried a call with a writer's
 * token from the token file is raised to the authenticated window. Observed from a raw HTTP/2
 * client as the SETTINGS and connection window the daemon grants it, after one call's response
 * (the daemon raises the window on that call's HEADERS, before it answers, so a raise it made has
 * arrived by then).
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as http2 from 'http2';
import * as path from 'path';
import { AUTHENTICATED_WINDOW_BYTES, HTTP2_WINDOW_BYTES } from '../src/target/http2-window';
import { tempDir } from './helpers/setup';
import { TestTarget } from './helpers/test-target';

const WRITER_TOKEN = 'writer-token-0123456789';
const READER_TOKEN = 'reader-token-0123456789';
const CALL_TIMEOUT_MS = 10_000;

interface Granted {
  /** The stream window the daemon's SETTINGS grant. */
  initialWindowSize: number;
  /** What the daemon lets this client send on the connection now. */
  connectionWindow: number;
}

/** One Stat call with `authorization` (if any) on a fresh connection; what the daemon granted after its response. */
async function grantedAfterCall(address: string, authorization?: string): Promise<Granted> {
  const session = http2.connect(`http://${address}`);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no response to the Stat call')), CALL_TIMEOUT_MS);
      session.once('error', reject);
      const headers: http2.OutgoingHttpHeaders = {
        ':method': 'POST',
        ':path': '/rpmem.v1.Target/Stat',
        'content-type': 'application/grpc',
        te: 'trailers',
      };
      if (authorization !== undefined) headers.authorization = authorization;
      const stream = session.request(headers);
      stream.on('data', () => undefined);
      stream.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      stream.end();
    });
    return { initialWindowSize: session.remoteSettings.initialWindowSize ?? 65_535, connectionWindow: session.state.remoteWindowSize ?? 0 };
  } finally {
    session.destroy();
  }
}

describe('HTTP/2 receive window', function () {
  this.timeout(60_000);
  let withTokens: TestTarget;
  let open: TestTarget;

  before(async () => {
    const file = path.join(tempDir('window-tokens'), 'tokens.yaml');
    fs.writeFileSync(
      file,
      ['tokens:', `  - token: "${WRITER_TOKEN}"`, `  - token: "${READER_TOKEN}"`, '    read-only: true', ''].join('\n'),
    );
    withTokens = await TestTarget.start({ args: ['--auth-token-file', file] });
    open = await TestTarget.start();
  });

  after(async () => {
    await withTokens?.stop();
    await open?.stop();
  });

  it("grants a connection with a writer's token the authenticated window", async () => {
    const g = await grantedAfterCall(withTokens.address, `Bearer ${WRITER_TOKEN}`);
    expect(g.initialWindowSize).to.equal(AUTHENTICATED_WINDOW_BYTES);
    expect(g.connectionWindow).to.be.greaterThan(HTTP2_WINDOW_BYTES).and.at.most(AUTHENTICATED_WINDOW_BYTES);
  });

  it('keeps the flood bound for no token, an unknown one, a read-only one, and on a daemon without a token file', async () => {
    const cases: Array<[TestTarget, string | undefined]> = [
      [withTokens, undefined],
      [withTokens, 'Bearer not-a-known-token-at-all'],
      [withTokens, `Bearer ${READER_TOKEN}`],
      [open, `Bearer ${WRITER_TOKEN}`],
    ];
    for (const [target, authorization] of cases) {
      const g = await grantedAfterCall(target.address, authorization);
      expect(g.initialWindowSize, String(authorization)).to.equal(HTTP2_WINDOW_BYTES);
      expect(g.connectionWindow, String(authorization)).to.be.at.most(HTTP2_WINDOW_BYTES);
    }
    // The same daemon still raises a writer's connection afterwards (positive control).
    expect((await grantedAfterCall(withTokens.address, `Bearer ${WRITER_TOKEN}`)).initialWindowSize).to.equal(AUTHENTICATED_WINDOW_BYTES);
  });
});
