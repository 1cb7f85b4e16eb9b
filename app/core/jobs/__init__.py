"""Jobs: the queue in ``wp_records`` and the files behind each job.

- records      Status, Job, JobEvent, Claim: the records, no queries
- queue        Jobs: create, claim, heartbeat, complete, fail, cancel, retry, delete (fenced)
- listing      the one job list for the API and the panel: filters, search, sort, bulk ids
- submissions  from an uploaded file to a PENDING job (panel, API and CLI alike)
- quotas       per-user limits checked for every upload
- inputs       what each upload was (job_inputs): hash, format, CSV convention, trusted check
- files        where a job's files live, the one place that deletes them, stray .part files
- results      handing out a job's files (expiry, audit)
- result_csv   the CSV result converted into the upload's own convention
- view         what a job's page shows of its result
- quality      the data-quality reports the worker stores per job
- retention    the sweep that removes old results and archives old jobs
- health       the queue at a glance for administrators
"""
