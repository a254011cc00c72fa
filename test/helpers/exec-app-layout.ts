/** Where exec-app.ts writes its records: writer `epoch − 1` of EXEC_APP_WRITERS, each with EXEC_APP_SLOTS slots. */
import { RECORD_BYTES } from './records';

/** Writers (epochs) the test pools have room for. */
export const EXEC_APP_WRITERS = 6;
/** Records per writer: at exec-app's pace, more than a scenario lasts. */
export const EXEC_APP_SLOTS = 8192;
/** The pool size the test creates the replicas with. */
export const EXEC_APP_POOL_BYTES = EXEC_APP_WRITERS * EXEC_APP_SLOTS * RECORD_BYTES;
