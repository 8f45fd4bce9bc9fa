/* Compiled as C99 and C11 with -Wpedantic -Werror by `make check-header`:
 * the public header must stand alone. */
#include <bsnn.h>

int main(void) { return bsnn_version() == BSNN_VERSION_NUMBER ? 0 : 1; }
