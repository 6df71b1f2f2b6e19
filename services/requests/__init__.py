"""The requests service: the catalogue of the 18 layanan kepegawaian and their request workflows."""
