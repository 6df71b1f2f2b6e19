"""The records use cases: each function takes the unit of work (and the actor and the validated
data), loads the employee from its `employee:<NIP>` stream, decides through domain.py (and
outcomes.py for a completed layanan), appends the events and writes the `employees` projection
in the same transaction; the SQL of the records schema lives here. `employees` is the employee
record and the documents it owns (upload owner, ownership of every link, attach, download);
`uploads` is an upload's three steps around the parsing sandbox; `imports` is the bulk import
job (start, claim, run in chunks, report); `regions` is a kabupaten/kota's change the sync
service passes on (once per event id, through the employee use cases); `disclosures` is the
log of every release of personal data (issue 17)."""
