import Testing

/// Every end-to-end suite is nested in this one, so that `.serialized` (which applies to nested
/// suites too) keeps the processes of one test from competing with another's for the CI
/// machine's two cores, and tests that bind TCP ports never race each other.
@Suite(.serialized) enum EndToEnd {}
