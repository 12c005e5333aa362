"""The part of the trainer that runs with torch: model preparation, data packing, the per-worker training
recipe and the Ray launcher. Imported only by the job process (``services.trainer.job``), never by the
API process, so the admin API starts in a second and holds no model memory."""
