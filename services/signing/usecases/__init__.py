"""The signing service's use cases, one module per job: `issuing` produces output documents
(numbered when an approval, a warning or a caller asks for one, then rendered, signed and
stored, retried until signed); `outputs` is what administrators, auditors and the employee a
document concerns do with them (list, read, download, retry, revoke, re-issue); `verifying`
answers anyone whether a PDF or a document id is one SIMASN signed and still in force;
`checkpoints` signs the heads of every service's log once one grew, copies each checkpoint to
the witness and publishes them. Each takes the unit of work (or, where signing must run between
two transactions, the service's database), the caller's principal and validated data; the SQL
is here, the rules in services/signing/domain.py, the crypto in the adapters beside it."""

#: the context the service acts in when no person asks: its timers, its consumers, the work it
#: does after a commit, and reading the record again for a re-issue
SYSTEM = {"actor_id": "service:signing", "actor_role": "system", "actor_roles": ["system"],
          "actor_scope": []}
