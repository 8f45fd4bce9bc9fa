#include "testutil.h"
Test(smoke, version_matches_header) { cr_assert_eq(bsnn_version(), BSNN_VERSION_NUMBER); }
