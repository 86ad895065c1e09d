-- Sinks into PostgreSQL: each sink's documents, upserted by document key, and the Kafka offsets
-- the sink has written up to, updated in the same database transaction as the documents.
CREATE TABLE IF NOT EXISTS sink_documents (
  sink TEXT NOT NULL,
  doc_key TEXT NOT NULL,
  document JSONB NOT NULL,
  event_id TEXT NOT NULL,
  source_topic TEXT NOT NULL,
  source_partition INTEGER NOT NULL,
  source_offset BIGINT NOT NULL,
  -- Events applied to this document: with exactly-once writes, the number of events of its key.
  writes BIGINT NOT NULL DEFAULT 1,
  updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  PRIMARY KEY (sink, doc_key)
);

-- A table from before `writes` was added.
ALTER TABLE sink_documents ADD COLUMN IF NOT EXISTS writes BIGINT NOT NULL DEFAULT 1;

CREATE TABLE IF NOT EXISTS sink_offsets (
  consumer_group TEXT NOT NULL,
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  next_offset BIGINT NOT NULL,
  updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  PRIMARY KEY (consumer_group, topic, partition)
);
