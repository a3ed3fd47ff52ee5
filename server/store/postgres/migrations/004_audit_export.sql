-- exportAudit reads a time range oldest first, in batches by keyset on (at, seq): this index serves
-- both the range and the order, so each batch starts where the last one stopped.
CREATE INDEX audit_events_at ON audit_events (at, seq);
