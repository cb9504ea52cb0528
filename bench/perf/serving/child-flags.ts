/** Tells a server child to exit when its stdin ends, i.e. when the harness that started it is gone. */
export const EXIT_WITH_STDIN = '--exit-with-stdin';
