//! model zoo (in progress)
