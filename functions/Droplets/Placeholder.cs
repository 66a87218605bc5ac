namespace Droplets; internal static class Placeholder;
