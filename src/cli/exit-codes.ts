/** What `poolscope` exits with, whichever command ran. */
export const EXIT_OK = 0;
/** `report --fail-under`: an origin with enough traffic reuses below the threshold. */
export const EXIT_BELOW_THRESHOLD = 1;
/** A source or a certificate could not be read, or the command line is wrong. */
export const EXIT_TROUBLE = 2;
