"""Service-level errors; the API turns them into `{"errors": [{"path", "message"}]}` responses."""


class ServiceError(Exception):
    status = 400

    def __init__(self, errors: list[dict] | str, *, path: str = ""):
        if isinstance(errors, str):
            errors = [{"path": path, "message": errors}]
        self.errors = errors
        super().__init__("; ".join(f"{e['path']}: {e['message']}" if e["path"] else e["message"] for e in errors))


class ValidationFailed(ServiceError):
    status = 400


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Unprocessable(ServiceError):
    """Well-formed, but it contradicts what was sent before (an Idempotency-Key reused for another body)."""

    status = 422


class Unauthorized(ServiceError):
    status = 401


class PayloadTooLarge(ServiceError):
    status = 413


class RateLimited(ServiceError):
    status = 429

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(ServiceError):
    """A service the request needs (the broker) is down; `extra` goes into the body (the run's id)."""

    status = 503

    def __init__(self, message: str, *, path: str = "", retry_after: int = 5, **extra):
        super().__init__(message, path=path)
        self.retry_after, self.extra = retry_after, extra
