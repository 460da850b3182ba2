/** How a node writes its own log: readable lines on a terminal, JSON otherwise, or one of them always. */
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
