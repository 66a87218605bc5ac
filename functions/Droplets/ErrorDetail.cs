namespace Droplets;

// Why a droplet or a volume is in error, or why an action errored: a stable code for programs and a message for people.
public sealed record ErrorDetail(string Code, string Message);
