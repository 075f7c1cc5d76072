//! Export to and import from S3 (ExportTableToPointInTime, DescribeExport,
//! ListExports, ImportTable, DescribeImport, ListImports).
