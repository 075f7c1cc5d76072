//! Query and Scan: key conditions, `ExclusiveStartKey`, `Select`, `Limit`,
//! parallel scan segments, indexes read.
