/**
 * A TCP relay for the SQL pool tests that also reads what clients send: it counts the connections made
 * through it and how often a marker (a comment in the query text) went to the server. The query text travels
 * only when a statement is prepared (MySQL's COM_STMT_PREPARE, PostgreSQL's Parse); executing a prepared
 * statement sends its id or name and the values. So the marker count is the number of prepares.
 */
import { TcpRelay } from '../helpers/tcp-relay.js';

export class TapRelay extends TcpRelay {
  /** Times the marker went from a client to the server. */
  sent = 0;

  constructor(targetPort: number, targetHost: string, marker: Buffer) {
    super(targetPort, targetHost, () => {
      // The marker may straddle two chunks of a connection: the last bytes of one are kept in front of the next.
      let tail = Buffer.alloc(0);
      return (chunk) => {
        const seen = Buffer.concat([tail, chunk]);
        for (let at = seen.indexOf(marker); at >= 0; at = seen.indexOf(marker, at + marker.length)) this.sent++;
        tail = seen.subarray(Math.max(0, seen.length - marker.length + 1));
      };
    });
  }
}
