//! Application receipts (AppRec v1.0 and v1.1). SKELETON: being written (issue 2).
