-- A request of a BKD-only layanan (hukuman disiplin) reaches verification withheld: no OPD, no
-- NIP. It is marked so that administrators see it in their queue (and nobody else does).
ALTER TABLE {schema}.queue_items ADD COLUMN confidential boolean NOT NULL DEFAULT false;
