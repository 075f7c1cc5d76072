//! DynamoDB Streams: ListStreams, DescribeStream, GetShardIterator,
//! GetRecords.
