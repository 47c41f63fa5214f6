"""The resumable, chunked asset-register import job."""
