"""Q.850 hangup cause codes as Asterisk reports them."""

CAUSES: dict[int, str] = {
    0: "Unknown",
    1: "Unallocated number",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "No answer",
    21: "Call rejected",
    27: "Destination out of order",
    28: "Invalid number format",
    31: "Normal, unspecified",
    32: "Normal, no circuit available",
    34: "No circuit available",
    38: "Network out of order",
    41: "Temporary failure",
    42: "Switching equipment congestion",
    58: "Bearer capability not available",
    127: "Interworking, unspecified",
}

NORMAL_CLEARING = 16


def cause_text(cause: int | None) -> str | None:
    if cause is None:
        return None
    return CAUSES.get(cause, f"Cause {cause}")
