/**
 * Remembers the last HTTP answer that went through a dispatcher (its status and the start of its
 * body), so the routing check can tell HAProxy's own error pages from an app's answers without a
 * second request: the walk of the challenge path reports a status, not who produced it.
 */
import type { Dispatcher } from 'undici';

export interface SeenAnswer {
  status: number;
  /** The first KEEP_BYTES of the body, as UTF-8. */
  body: string;
}

/** HAProxy's error pages are about 100 bytes; this keeps them whole and little else. */
const KEEP_BYTES = 512;

export interface RecordingDispatcher {
  /** Passes every request through to the base dispatcher unchanged. */
  dispatcher: Dispatcher;
  last(): SeenAnswer | undefined;
}

/** Closing or destroying the base dispatcher is left to its owner. */
export function recordingDispatcher(base: Dispatcher): RecordingDispatcher {
  let last: SeenAnswer | undefined;
  const record: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (options, handler) => {
    const kept: Buffer[] = [];
    let size = 0;
    let status = 0;
    return dispatch(options, {
      onRequestStart: (controller, context: unknown) => handler.onRequestStart?.(controller, context),
      onRequestUpgrade: (controller, statusCode, headers, socket) => handler.onRequestUpgrade?.(controller, statusCode, headers, socket),
      onResponseStart: (controller, statusCode, headers, statusMessage) => {
        status = statusCode;
        last = { status, body: '' };
        handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
      },
      onResponseData: (controller, chunk) => {
        if (size < KEEP_BYTES) {
          const piece = chunk.subarray(0, KEEP_BYTES - size);
          kept.push(piece);
          size += piece.length;
          last = { status, body: Buffer.concat(kept).toString('utf8') };
        }
        handler.onResponseData?.(controller, chunk);
      },
      onResponseEnd: (controller, trailers) => handler.onResponseEnd?.(controller, trailers),
      onResponseError: (controller, error) => handler.onResponseError?.(controller, error),
    });
  };
  return { dispatcher: base.compose(record), last: () => last };
}
