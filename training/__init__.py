"""Full-precision training of the HoT and AiT model families."""
