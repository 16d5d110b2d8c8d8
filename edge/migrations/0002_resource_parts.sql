-- Resources larger than one D1 string (1 MB) are stored in parts: their
-- `resources.json` is '' and the text lives here, in order of `seq`.
CREATE TABLE resource_parts (
  rid INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  part TEXT NOT NULL,
  PRIMARY KEY (rid, seq)
);
